import Synchronization

/// Values by label and dimensions, made once each: the gateway's and the monitor's metric
/// handles, so that a hot path looks its counter up instead of registering it again.
/// Dimensions are bounded by the callers (results, reasons, tiers — never customer ids).
public final class DimensionedCache<Value: Sendable>: Sendable {
    private let values = Mutex<[String: Value]>([:])
    private let make: @Sendable (_ label: String, _ dimensions: [(String, String)]) -> Value

    public init(_ make: @escaping @Sendable (_ label: String, _ dimensions: [(String, String)]) -> Value) {
        self.make = make
    }

    public func callAsFunction(_ label: String, _ dimensions: [(String, String)]) -> Value {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return values.withLock { cache in
            if let value = cache[key] { return value }
            let value = make(label, dimensions)
            cache[key] = value
            return value
        }
    }
}
