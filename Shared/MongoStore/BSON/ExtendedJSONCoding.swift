package import Foundation

extension Date {
    /// Milliseconds since 1970, rounded as the store rounds BSON dates. Times that queries compare (expiry, retry
    /// deadlines, ordering) are stored in this form, because the dev store cannot `$set` a date (dev-store.md gap 3).
    package var epochMilliseconds: Int64 {
        Int64((self.timeIntervalSince1970 * 1000).rounded())
    }
}

extension CodingUserInfoKey {
    /// Set to `true` in the user info of the encoder that writes documents for the store: types with a BSON form
    /// (``MongoObjectID``) then encode as Extended JSON instead of their plain JSON form.
    package static let mongoExtendedJSON = CodingUserInfoKey(rawValue: "storefront.mongoExtendedJSON")!
}

/// The JSON coders of the BSON bridge: `Codable` values go to the store as relaxed Extended JSON and come back from it
/// the same way.
///
/// - Dates are stored as BSON dates (`{"$date": {"$numberLong": "<ms>"}}`) and read back from any Extended JSON
///   date form, at millisecond precision. (Do not `$set` a date on the dev store: dev-store.md gap 3.)
/// - Whole-number `Double`s are written as JSON integers and so stored as BSON integers; MongoDB compares and sorts
///   numbers across types, and they decode back into `Double`.
enum ExtendedJSONCoding {
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.userInfo[.mongoExtendedJSON] = true
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.container(keyedBy: DateKey.self)
            var inner = container.nestedContainer(keyedBy: NumberLongKey.self, forKey: .date)
            try inner.encode(String(millisecondsSince1970(date)), forKey: .numberLong)
        }
        return encoder
    }

    static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.container(keyedBy: DateKey.self)
            if let text = try? container.decode(String.self, forKey: .date) {
                guard let date = parseISO8601(text) else {
                    throw DecodingError.dataCorruptedError(forKey: .date, in: container, debugDescription: text)
                }
                return date
            }
            if let millis = try? container.decode(Int64.self, forKey: .date) {
                return Date(timeIntervalSince1970: Double(millis) / 1000)
            }
            let inner = try container.nestedContainer(keyedBy: NumberLongKey.self, forKey: .date)
            let text = try inner.decode(String.self, forKey: .numberLong)
            guard let millis = Int64(text) else {
                throw DecodingError.dataCorruptedError(forKey: .numberLong, in: inner, debugDescription: text)
            }
            return Date(timeIntervalSince1970: Double(millis) / 1000)
        }
        return decoder
    }

    static func millisecondsSince1970(_ date: Date) -> Int64 {
        date.epochMilliseconds
    }

    /// Relaxed Extended JSON writes dates of years 1970–9999 as ISO 8601 with milliseconds, e.g. `…T10:00:00.123Z`.
    private static func parseISO8601(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return (try? withFraction.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    private enum DateKey: String, CodingKey { case date = "$date" }
    private enum NumberLongKey: String, CodingKey { case numberLong = "$numberLong" }
}
