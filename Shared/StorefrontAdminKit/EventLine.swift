import Foundation
package import KafkaBus
package import ServiceKit

/// One event as `storefront-admin events` prints it: where it is, its key, time, request id, type and payload, decoded
/// through the contracts. One line per event, for people (``humanLine``) or machines (``jsonLine``).
package struct EventLine: Codable, Sendable, Equatable {
    package var topic: String
    package var partition: Int32
    package var offset: Int64
    package var key: String?
    /// RFC 3339 (UTC, milliseconds); `nil` when the record has no timestamp.
    package var time: String?
    /// The `x-request-id` header: the request whose work produced the event.
    package var requestId: String?
    /// The `event-version` header.
    package var eventVersion: String?
    /// The event's type (its `type`, else the topic's name); `nil` when the payload did not decode.
    package var eventType: String?
    /// The payload as the contract reads it; `nil` when it did not decode.
    package var payload: JSONValue?
    /// Why the payload did not decode, with ``raw`` holding its bytes as text.
    package var error: String?
    package var raw: String?

    /// Decodes `message` (logical topic name) through the contracts.
    package init(_ message: KafkaBusMessage) {
        self.topic = message.topic
        self.partition = message.partition
        self.offset = message.offset
        self.key = message.key
        self.time = message.timestamp.map { StorefrontJSON.format(Date(timeIntervalSince1970: Double($0) / 1000)) }
        self.requestId = message.headers[CurrentRequest.eventHeader]
        self.eventVersion = message.headers[EventHeaders.version]
        do {
            let decoded = try EventCatalog.decode(topic: message.topic, value: message.value)
            self.eventType = decoded.type
            self.payload = decoded.payload
        } catch {
            self.error = "\(error)"
            self.raw = String(decoding: message.value, as: UTF8.self)
        }
    }

    /// `TIME  TOPIC[PARTITION]@OFFSET  key=KEY  request=ID  TYPE  PAYLOAD`.
    package var humanLine: String {
        let body = self.payload.map(Self.compactJSON) ?? "UNDECODABLE (\(self.error ?? "")): \(self.raw ?? "")"
        return [
            self.time ?? "-", "\(self.topic)[\(self.partition)]@\(self.offset)", "key=\(self.key ?? "-")",
            "request=\(self.requestId ?? "-")", self.eventType ?? "?", body,
        ].joined(separator: "  ")
    }

    /// One JSON object, keys sorted, on one line.
    package var jsonLine: String { Self.compactJSON(self) }

    static func compactJSON(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
