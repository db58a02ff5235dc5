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

    package func log(
        level: Logger.Level,
        message: Logger.Message,
        metadata explicit: Logger.Metadata?,
        source: String,
        file: String,
        function: String,
        line: UInt
    ) {
        var fields: [String: String] = [:]
        for (key, value) in self.metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        fields["ts"] = StorefrontJSON.format(Date())
        fields["level"] = level.rawValue
        fields["logger"] = self.label
        fields["msg"] = message.description
        if level >= .warning { fields["source"] = "\(file):\(line)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(fields) else { return }
        data.append(0x0A)
        Self.outputLock.withLock { _ in FileHandle.standardOutput.write(data) }
    }

    private static let outputLock = Mutex(())
}
