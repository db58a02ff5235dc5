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
        // By hand (gmtime_r and digits) rather than a FormatStyle: this runs for every log line and response date.
        var time = time_t(wholeSeconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil, (0...9999).contains(parts.tm_year + 1900) else {
            let text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(.iso8601)  // …T03:04:05Z
            return text.dropLast() + "." + String(format: "%03d", positiveFraction) + "Z"
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int, then separator: Character?) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
            if let separator { bytes.append(separator.asciiValue!) }
        }
        digits(Int(parts.tm_year) + 1900, 4, then: "-")
        digits(Int(parts.tm_mon) + 1, 2, then: "-")
        digits(Int(parts.tm_mday), 2, then: "T")
        digits(Int(parts.tm_hour), 2, then: ":")
        digits(Int(parts.tm_min), 2, then: ":")
        digits(Int(parts.tm_sec), 2, then: ".")
        digits(Int(positiveFraction), 3, then: "Z")
        return String(decoding: bytes, as: UTF8.self)
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
