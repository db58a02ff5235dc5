import HTTPTypes
package import ServiceKit

/// The inventory service's routes other services call (contract §2.3 and our reservation routes), on
/// ``ServiceClient``. Unexpected answers follow ``PeerAnswer``. Thread-safe.
package struct InventoryClient: Sendable {
    /// One product and quantity of a reservation.
    package struct ReserveItem: Codable, Sendable, Equatable {
        package var productId: String
        package var quantity: Int

        package init(productId: String, quantity: Int) {
            self.productId = productId
            self.quantity = quantity
        }
    }

    /// What `POST /reserve` did.
    package enum ReserveOutcome: Sendable, Equatable {
        case reserved(reservationID: String)
        /// 409: not enough stock; the inventory service's message.
        case insufficient(message: String)
    }

    /// What `DELETE /delete/{productId}` did.
    package enum DeleteOutcome: Sendable, Equatable {
        /// The record was deleted.
        case deleted
        /// There was no record.
        case notFound
        /// Units are reserved (pending orders): the record, and so the product, must stay.
        case pendingReservations
    }

    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `POST /create {productId, inventory}`: the stock record exists afterwards (201 created, or 200 when it already
    /// existed: idempotent by product id).
    package func create(productID: String, stock: Int64) async throws {
        struct Body: Encodable, Sendable {
            var productId: String
            var inventory: Int64
        }
        let response = try await self.client.send(
            .post,
            to: .inventory,
            path: "/create",
            body: Body(productId: productID, inventory: stock)
        )
        guard [200, 201].contains(response.status.code) else {
            throw PeerAnswer.unexpected(response, from: .inventory, "POST /create")
        }
    }

    /// `GET /get/{productId}`: the stock record as the inventory service wrote it (a JSON object with a numeric
    /// `inventory`: the units available for sale), or `nil` when it has none (404).
    package func record(productID: String) async throws -> [String: JSONValue]? {
        try await self.versionedRecord(productID: productID)?.record
    }

    /// Like ``record(productID:)``, with the record's version (the `stock-version` header,
    /// ``StockLevelEvent/versionHeader``; `nil` from an inventory service that sends none), which orders the answer
    /// against the `stock-levels` events.
    package func versionedRecord(productID: String) async throws -> (record: [String: JSONValue], version: Int64?)? {
        let response = try await self.client.send(.get, to: .inventory, path: "/get/\(productID)")
        switch response.status.code {
        case 200:
            guard case .object(let record) = try? response.decode(JSONValue.self, peer: .inventory),
                record["inventory"]?.numberValue != nil
            else { throw PeerAnswer.invalid(from: .inventory, "GET /get/{id}", "a record without a numeric inventory") }
            return (record, response.headers[StockLevelEvent.versionHeader].flatMap { Int64($0) })
        case 404:
            return nil
        default:
            throw PeerAnswer.unexpected(response, from: .inventory, "GET /get/{id}")
        }
    }

    /// How many units of `productID` are available for sale: the record's `inventory`, 0 when there is no record
    /// (never negative).
    package func available(productID: String) async throws -> Int {
        guard let stock = try await self.record(productID: productID)?["inventory"]?.numberValue else { return 0 }
        return Int(min(max(0, stock), 1e15).rounded(.down))
    }

    /// `DELETE /delete/{productId}`.
    package func delete(productID: String) async throws -> DeleteOutcome {
        let response = try await self.client.send(.delete, to: .inventory, path: "/delete/\(productID)")
        switch response.status.code {
        case 200, 204: return .deleted
        case 404: return .notFound
        case 409: return .pendingReservations
        default: throw PeerAnswer.unexpected(response, from: .inventory, "DELETE /delete/{id}")
        }
    }

    /// `POST /reserve {orderId, items}`: holds the items for the order; idempotent per order id there.
    package func reserve(orderID: String, items: [ReserveItem]) async throws -> ReserveOutcome {
        struct Body: Encodable, Sendable {
            var orderId: String
            var items: [ReserveItem]
        }
        let response = try await self.client.send(
            .post,
            to: .inventory,
            path: "/reserve",
            body: Body(orderId: orderID, items: items)
        )
        switch response.status.code {
        case 200, 201:
            guard case .string(let id)? = try response.decode(JSONValue.self, peer: .inventory)["reservationId"],
                !id.isEmpty
            else { throw PeerAnswer.invalid(from: .inventory, "POST /reserve", "a reservation without reservationId") }
            return .reserved(reservationID: id)
        case 409:
            let message = (try? response.decode(JSONValue.self, peer: .inventory))?["error"]?["message"]
            if case .string(let text)? = message { return .insufficient(message: text) }
            return .insufficient(message: "insufficient stock")
        default:
            throw PeerAnswer.unexpected(response, from: .inventory, "POST /reserve")
        }
    }

    /// `POST /reservations/{id}/cancel`: the order will not go ahead, so inventory puts the reservation's stock back
    /// on sale (held or already sold) and sells nothing for it on a later payment success. Idempotent there.
    /// - Returns: `false` when inventory does not know the reservation (404): it holds nothing.
    @discardableResult
    package func withdrawReservation(_ reservationID: String) async throws -> Bool {
        let call = "POST /reservations/{id}/cancel"
        let response = try await self.client.send(.post, to: .inventory, path: "/reservations/\(reservationID)/cancel")
        switch response.status.code {
        case 200..<300: return true
        case 404: return false
        default: throw PeerAnswer.unexpected(response, from: .inventory, call)
        }
    }
}
