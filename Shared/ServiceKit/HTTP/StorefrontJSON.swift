package import Foundation
import MongoStore

/// The JSON conventions of every HTTP body: dates as RFC 3339 with fractional seconds (as the original wrote them),
/// accepted with or without the fraction.
package enum StorefrontJSON {
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(self.format(date))
        }
        return encoder
    }

    /// `2026-01-02T03:04:05.123Z`: UTC, rounded to the millisecond exactly as the store rounds dates, so a date in a
    /// response reads the same as the stored one.
    package static func format(_ date: Date) -> String {
        let milliseconds = date.epochMilliseconds
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, positiveFraction) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(.iso8601)  // …T03:04:05Z
        return text.dropLast() + "." + String(format: "%03d", positiveFraction) + "Z"
    }

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
                ?? (try? Date.ISO8601FormatStyle().parse(text))
            {
                return date
            }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "expected an RFC 3339 date, got '\(text)'")
            )
        }
        return decoder
    }
}
