import Foundation
import Logging
package import Prometheus
import Synchronization

/// Gauges whose values are read when Prometheus scrapes `/metrics`, rather than kept up to date on every change:
/// the process's own figures, and whatever a service registers with ``ServiceRuntime/onScrape(_:)`` (its outbox
/// backlog, orders or reservations by state). A scrape every 15 s costs a few counts on indexed fields.
///
/// With several replicas, each reports the same store-wide counts: aggregate them with `max`, not `sum`.
final class ScrapeMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let hooks = Mutex<[@Sendable () async throws -> Void]>([])
    private let logger: Logger

    init(registry: PrometheusCollectorRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    func add(_ hook: @escaping @Sendable () async throws -> Void) {
        self.hooks.withLock { $0.append(hook) }
    }

    /// Runs every hook, each limited to `timeout` (a store that does not answer leaves its gauges at their last
    /// values instead of holding the scrape), then records the process figures.
    func refresh(timeout: Duration) async {
        let hooks = self.hooks.withLock { $0 }
        await withTaskGroup(of: Void.self) { group in
            for hook in hooks {
                group.addTask {
                    do {
                        try await withDeadline(timeout) { try await hook() }
                    } catch {
                        self.logger.warning("metrics: a gauge was not refreshed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        ProcessFigures.read()?.record(in: self.registry)
    }
}

/// The process's resident memory, CPU time, threads and open file descriptors, from `/proc/self` (Linux), under the
/// names Prometheus's own clients use.
struct ProcessFigures {
    var residentBytes: Double
    var cpuSeconds: Double
    var threads: Double
    var openFileDescriptors: Double

    /// `nil` where `/proc/self` is not there (not Linux).
    static func read() -> ProcessFigures? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        else { return nil }
        func field(_ name: String) -> Double? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first }
                .flatMap { Double($0) }
        }
        // stat: "pid (comm) state ..." — comm may hold spaces, so count fields after the last ')'. utime and stime
        // are fields 14 and 15 (1-based), in clock ticks.
        let afterName = stat[stat.index(after: stat.lastIndex(of: ")") ?? stat.startIndex)...]
        let fields = afterName.split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = fields.count > 12 ? ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks : 0
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessFigures(
            residentBytes: (field("VmRSS") ?? 0) * 1024,
            cpuSeconds: cpu,
            threads: field("Threads") ?? 0,
            openFileDescriptors: Double(descriptors)
        )
    }

    func record(in registry: PrometheusCollectorRegistry) {
        registry.makeGauge(name: "process_resident_memory_bytes").set(self.residentBytes)
        registry.makeGauge(name: "process_cpu_seconds_total").set(self.cpuSeconds)
        registry.makeGauge(name: "process_threads").set(self.threads)
        registry.makeGauge(name: "process_open_fds").set(self.openFileDescriptors)
    }
}

/// A gauge with one label, set for every value of the label at each scrape: `storefront_orders{status="pending"}`.
package struct LabelledGauge: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String
    private let label: String

    init(registry: PrometheusCollectorRegistry, name: String, label: String) {
        self.registry = registry
        self.name = name
        self.label = label
    }

    /// Sets the gauge of each label value to its count (give every value, zeros included, so none goes stale).
    package func set(_ counts: [String: Int]) {
        for (value, count) in counts {
            self.registry.makeGauge(name: self.name, labels: [(self.label, value)]).set(Double(count))
        }
    }
}
