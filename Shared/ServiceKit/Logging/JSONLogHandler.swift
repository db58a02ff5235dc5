import Foundation
package import Logging
import Synchronization

/// Writes each log record as one JSON object per line on standard output:
/// `{"ts":"…","level":"info","logger":"user-service","msg":"…","request.id":"…","http.duration_ms":12,…}`.
/// Metadata keeps its JSON type: numbers and booleans given as `.stringConvertible` are written as such, arrays and
/// dictionaries as arrays and objects; everything else is a string.
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
        var fields: [String: JSONValue] = [:]
        for (key, value) in self.metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = Self.json(value)
        }
        fields["ts"] = .string(StorefrontJSON.format(Date()))
        fields["level"] = .string(event.level.rawValue)
        fields["logger"] = .string(self.label)
        fields["msg"] = .string(event.message.description)
        if event.level >= .warning { fields["source"] = .string("\(event.file):\(event.line)") }
        var line: [UInt8] = []
        line.reserveCapacity(512)
        JSONValue.object(fields).write(to: &line)
        line.append(0x0A)
        Self.outputLock.withLock { _ in
            line.withUnsafeBytes { bytes in Self.writeAll(bytes) }
        }
    }

    /// Writes every byte to standard output (a short write, or an interrupted one, is continued).
    private static func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return  // stdout closed or full: a log line is not worth failing the request
            }
        }
    }

    private static let outputLock = Mutex(())

    /// A metadata value as JSON of its own type.
    static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible):
            switch convertible {
            case let bool as Bool: .bool(bool)
            case let int as any BinaryInteger: Int64(exactly: int).map { .integer($0) } ?? .string("\(int)")
            case let double as any BinaryFloatingPoint:
                Double(double).isFinite ? .number(Double(double)) : .string(convertible.description)
            default: .string(convertible.description)
            }
        case .array(let values): .array(values.map(Self.json))
        case .dictionary(let values): .object(values.mapValues(Self.json))
        }
    }
}
