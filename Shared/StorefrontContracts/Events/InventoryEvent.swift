package import Foundation
import ServiceKit

/// `inventory-events`: stock news for the order service. Today one type, `reservation-lost`: a paid order's stock is
/// gone (its reservation had expired or was cancelled and stock no longer allows selling the items), so the order
/// must fail and be refunded. Key: `orderId`. Keys are optional on reading; consumers skip types they do not know.
package struct InventoryEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1

    /// The event types on this topic.
    package enum Kind: String, Sendable {
        case reservationLost = "reservation-lost"
    }

    /// A ``Kind`` raw value.
    package var type: String?
    package var eventId: String?
    package var orderId: String?
    package var reservationId: String?
    package var reason: String?
    package var occurredAt: Date?

    package var key: String { self.orderId ?? "" }
    package var kind: Kind? { self.type.flatMap(Kind.init(rawValue:)) }

    /// `reservation-lost` for the reservation `reservationId` of order `orderId`, with the event id
    /// `reservation-lost-<reservationId>` (one per reservation, however often it is written).
    package static func reservationLost(
        orderId: String,
        reservationId: String,
        reason: String,
        occurredAt: Date = Date()
    ) -> InventoryEvent {
        InventoryEvent(
            type: Kind.reservationLost.rawValue,
            eventId: "reservation-lost-\(reservationId)",
            orderId: orderId,
            reservationId: reservationId,
            reason: reason,
            occurredAt: occurredAt
        )
    }

    private init(
        type: String?,
        eventId: String?,
        orderId: String?,
        reservationId: String?,
        reason: String?,
        occurredAt: Date?
    ) {
        self.type = type
        self.eventId = eventId
        self.orderId = orderId
        self.reservationId = reservationId
        self.reason = reason
        self.occurredAt = occurredAt
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.type = container.lenient(String.self, forKey: .type)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.orderId = container.lenient(String.self, forKey: .orderId)
        self.reservationId = container.lenient(String.self, forKey: .reservationId)
        self.reason = container.lenient(String.self, forKey: .reason)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
    }
}
