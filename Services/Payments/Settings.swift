import ServiceKit

/// The payment service's own settings.
///
/// Keys (environment variable in brackets):
/// - `payment.latency.ms` (`PAYMENT_LATENCY_MS`): simulated processor latency per charge, in ms, 0...60000;
///   default 0 (benchmarks set it to imitate a real gateway).
struct PaymentSettings: Sendable {
    var processorLatency: Duration

    /// - Throws: ``ConfigurationError`` for a latency that is not an integer from 0 to 60000.
    init(_ runtime: ServiceRuntime) throws {
        self.processorLatency = .zero
        if let text = runtime.setting("payment.latency.ms") {
            guard let value = Int(text), (0...60_000).contains(value) else {
                throw ConfigurationError(key: "payment.latency.ms", value: text, expected: "an integer from 0 to 60000")
            }
            self.processorLatency = .milliseconds(value)
        }
    }
}
