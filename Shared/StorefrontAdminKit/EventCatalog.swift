import Foundation
import KafkaBus
package import ServiceKit
import StorefrontContracts

/// Decodes a message of any platform topic through its contract (`Topics`): the payload as the topic's event type,
/// re-encoded as JSON, and the event's type. A dead-letter topic's messages decode as their original topic's.
package enum EventCatalog {
    /// A payload decoded through its contract.
    package struct Decoded: Sendable, Equatable {
        /// The event's `type` when it has one (`payment.succeeded`, `order-confirmed`, …), else the topic's name.
        package var type: String
        /// The event as the contract reads it, re-encoded (keys sorted, dates RFC 3339).
        package var payload: JSONValue
    }

    /// Why a payload did not decode.
    package struct Undecodable: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    /// Decodes `value`, a message of `topic` (logical name, or its dead-letter topic).
    /// - Throws: ``Undecodable`` for a topic without a contract or a payload its contract refuses.
    package static func decode(topic: String, value: [UInt8]) throws -> Decoded {
        let original = KafkaBusDeadLetter.originalTopic(of: topic) ?? topic
        guard let decode = self.decoders[original] else {
            throw Undecodable(description: "no event type is defined for topic \(original)")
        }
        return try decode(Data(value), original)
    }

    private typealias Decoder = @Sendable (Data, String) throws -> Decoded

    private static let decoders: [String: Decoder] = [
        Topics.userCreated.name: EventCatalog.decoder(Topics.userCreated),
        Topics.userDeleted.name: EventCatalog.decoder(Topics.userDeleted),
        Topics.paymentEvents.name: EventCatalog.decoder(Topics.paymentEvents),
        Topics.inventoryEvents.name: EventCatalog.decoder(Topics.inventoryEvents),
        Topics.orderEvents.name: EventCatalog.decoder(Topics.orderEvents),
        Topics.productEvents.name: EventCatalog.decoder(Topics.productEvents),
        Topics.stockLevels.name: EventCatalog.decoder(Topics.stockLevels),
    ]

    private static func decoder<Event: StorefrontEvent>(_ topic: EventTopic<Event>) -> Decoder {
        { data, name in
            let event: Event
            do {
                event = try StorefrontJSON.decoder().decode(Event.self, from: data)
            } catch {
                throw Undecodable(description: "not a \(name) event: \(error)")
            }
            let encoder = StorefrontJSON.encoder()
            encoder.outputFormatting = [.sortedKeys]
            let payload = try JSONDecoder().decode(JSONValue.self, from: try encoder.encode(event))
            var type = name
            if case .object(let fields) = payload, case .string(let value)? = fields["type"], !value.isEmpty {
                type = value
            }
            return Decoded(type: type, payload: payload)
        }
    }
}
