// zlib (Debian: zlib1g-dev), used only by TollgateTokenizer to inflate the shipped
// gzip rank files.
#ifndef TOLLGATE_CZLIB_SHIM_H
#define TOLLGATE_CZLIB_SHIM_H
#include <zlib.h>
#endif
