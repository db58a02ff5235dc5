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
        let line = self.line(for: event)
        Self.outputLock.withLock { _ in
            line.withUnsafeBytes { bytes in Self.writeAll(bytes) }
        }
    }

    /// The event's line, newline included.
    func line(for event: LogEvent) -> [UInt8] {
        // Built as a list rather than a dictionary: this runs for every request (the access log), and merging and
        // hashing two metadata dictionaries cost more than writing the line.
        let eventMetadata = event.metadata ?? [:]
        var fields: [(key: String, value: JSONValue)] = []
        fields.reserveCapacity(self.metadata.count + eventMetadata.count + 5)
        for (key, value) in self.metadata where eventMetadata[key] == nil && !Self.recordKeys.contains(key) {
            fields.append((key, Self.json(value)))
        }
        for (key, value) in eventMetadata where !Self.recordKeys.contains(key) {
            fields.append((key, Self.json(value)))
        }
        fields.append(("ts", .string(StorefrontJSON.format(Date()))))
        fields.append(("level", .string(event.level.rawValue)))
        fields.append(("logger", .string(self.label)))
        fields.append(("msg", .string(event.message.description)))
        if event.level >= .warning { fields.append(("source", .string("\(event.file):\(event.line)"))) }
        var line: [UInt8] = []
        line.reserveCapacity(512)
        JSONValue.writeObject(fields, to: &line)
        line.append(0x0A)
        return line
    }

    /// The record's own fields; metadata under these keys is dropped rather than written twice.
    private static let recordKeys: Set<String> = ["ts", "level", "logger", "msg", "source"]

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
            // The common integers first: a cast to a concrete type is far cheaper than to `any BinaryInteger`.
            case let int as Int: .integer(Int64(int))
            case let int as Int64: .integer(int)
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
