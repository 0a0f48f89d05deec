// hiredis 0.14.1 as shipped by Debian (libhiredis-dev): no TLS, no RESP3,
// no redisConnectWithOptions. Only TollgateRedis imports this module.
#ifndef TOLLGATE_CHIREDIS_SHIM_H
#define TOLLGATE_CHIREDIS_SHIM_H
#include <hiredis.h>
#endif
