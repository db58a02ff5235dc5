import Foundation
package import Logging
import Synchronization

/// Writes each log record as one JSON object per line on standard output:
/// `{"ts":"…","level":"info","logger":"user-service","msg":"…","request.id":"…",…}`.
/// Thread-safe: lines are written whole under a process-wide lock.
package struct JSONLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .info
    private let label: String

    package init(label: String) {
        self.label = label
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in self.metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        fields["ts"] = StorefrontJSON.format(Date())
        fields["level"] = event.level.rawValue
        fields["logger"] = self.label
        fields["msg"] = event.message.description
        if event.level >= .warning { fields["source"] = "\(event.file):\(event.line)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(fields) else { return }
        data.append(0x0A)
        Self.outputLock.withLock { _ in FileHandle.standardOutput.write(data) }
    }

    private static let outputLock = Mutex(())
}
