package import Foundation

/// A place in a topic, as `--from`/`--to`/`--to-time` take it: an offset (the same on every partition), an absolute
/// time (ISO 8601 / RFC 3339: `2026-11-29T14:00:00Z`, with or without milliseconds or an offset such as `+01:00`), or a
/// time relative to now (`-10m`, `-2h`, `-30s`, `-1d`).
package enum EventPosition: Sendable, Equatable, CustomStringConvertible {
    case offset(Int64)
    case time(Date)

    /// Parses `text` (see the type's documentation); relative times count back from `now`.
    /// - Throws: ``AdminFailure`` naming the accepted forms.
    package static func parse(_ text: String, now: Date = Date()) throws -> EventPosition {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let offset = Int64(trimmed), offset >= 0 {
            return .offset(offset)
        }
        if let date = self.parseTime(trimmed, now: now) {
            return .time(date)
        }
        throw AdminFailure(
            "'\(text)' is not an offset, a time (2026-11-29T14:00:00Z) or a relative time (-10m, -2h, -30s, -1d)"
        )
    }

    /// Parses an absolute or relative time only.
    package static func parseTime(_ text: String, now: Date = Date()) -> Date? {
        if text.hasPrefix("-"), let unit = text.last, let amount = Double(text.dropFirst().dropLast()), amount >= 0 {
            let seconds: Double? =
                switch unit {
                case "s": 1
                case "m": 60
                case "h": 3600
                case "d": 86400
                default: nil
                }
            if let seconds { return now.addingTimeInterval(-amount * seconds) }
        }
        return (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    package var description: String {
        switch self {
        case .offset(let offset): "offset \(offset)"
        case .time(let date): date.formatted(.iso8601)
        }
    }
}

/// A failure to show to the operator as is: one line, saying what to do.
package struct AdminFailure: Error, Sendable, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}
