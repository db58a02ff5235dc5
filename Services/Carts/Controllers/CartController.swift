import Hummingbird
import Logging
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The cart routes. All are protected: the caller must be the cart's owner, an admin or a service (403 otherwise).
///
/// | method | path | body | success |
/// |---|---|---|---|
/// | POST | `/addtocart` | `{userId, productId, quantity}` | 200 `{"message": "Item added to cart"}` |
/// | GET | `/user/{userId}` | | 200 `[{productId, quantity, product, inventory}]` |
/// | DELETE | `/delete/{userId}` | | 200 `{"message": "Cart cleared", "userId"}` |
/// | PUT | `/user/{userId}/items/{productId}` | `{quantity}` (0 removes) | 200 `{"message", "productId", "quantity"}` |
/// | DELETE | `/user/{userId}/items/{productId}` | | 200 `{"message": "Item removed from cart", "productId"}` |
/// | POST | `/checkout/{userId}` | `{orderId}` (services and admins only) | 200 `{orderId, items: [{productId, quantity}]}` |
///
/// `GET /user/{userId}` shows the lines that can be ordered: lines checked out for a pending order are held apart
/// until `order-events` settles that order (``OrderEventsConsumer``).
/// Errors use the platform envelope: 400 `invalid_id` / `validation_failed` / `bad_request`, 401, 403,
/// 404 `cart_not_found` / `product_not_found` / `item_not_found` / `user_not_found`, 409 `insufficient_stock`,
/// 409 `checkout_in_progress` (with the pending `orderId`), 502 `dependency_failed`, 503 `dependency_unavailable` /
/// `cart_busy` (extreme contention; retry). Every check runs before anything is written.
struct CartController: Sendable {
    let repository: CartRepository
    let products: ProductClient
    let inventory: InventoryClient

    /// `POST /addtocart` body (the original's field names).
    struct AddRequest: Decodable {
        var userId: String?
        var productId: String?
        var quantity: Int?
    }

    /// `PUT /user/{userId}/items/{productId}` body.
    struct SetQuantityRequest: Decodable {
        var quantity: Int?
    }

    /// `POST /checkout/{userId}` body.
    struct CheckoutRequest: Decodable {
        var orderId: String?
    }

    /// `POST /checkout/{userId}` answer: the lines now held for the order.
    struct CheckoutResponse: ResponseEncodable {
        struct Line: Encodable {
            var productId: String
            var quantity: Int
        }
        var orderId: String
        var items: [Line]
    }

    /// A `{"message": …}` answer, optionally with the affected ids and quantity.
    struct MessageResponse: ResponseEncodable {
        var message: String
        var userId: String?
        var productId: String?
        var quantity: Int?
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.post("/addtocart", use: self.add)
        group.get("/user/:userId", use: self.cart)
        group.delete("/delete/:userId", use: self.clear)
        group.put("/user/:userId/items/:productId", use: self.setQuantity)
        group.delete("/user/:userId/items/:productId", use: self.removeItem)
        group.post("/checkout/:userId", use: self.checkout)
    }

    /// `POST /addtocart`: adds `quantity` of a product to the user's cart (creating the cart if needed), atomically,
    /// as long as the cart's total for that product stays within the stock available for sale.
    /// - Returns: 200 `{"message": "Item added to cart"}` (the original's answer).
    /// - Throws: 400 (malformed body, `invalid_id`, quantity not a positive integer), 401, 403, 404
    ///   `product_not_found` / `user_not_found`, 409 `insufficient_stock`, 502/503 when a peer fails.
    @Sendable
    func add(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<MessageResponse> {
        let body = try await request.decode(as: AddRequest.self, context: context)
        let userID = try Self.objectID(body.userId, name: "userId")
        _ = try context.requireAccess(toUser: userID)
        let productID = try Self.objectID(body.productId, name: "productId")
        let quantity = try Self.quantity(body.quantity, allowZero: false)
        let limit = try await self.checkedStock(productID)
        guard quantity <= limit else { throw Self.insufficientStock(productID, available: limit) }
        switch try await self.repository.add(userID: userID, productID: productID, quantity: quantity, limit: limit) {
        case .added(let total):
            context.logger.info(
                "added to cart",
                metadata: ["cart.user": "\(userID)", "cart.product": "\(productID)", "cart.quantity": "\(total)"]
            )
            return EditedResponse(status: .ok, response: MessageResponse(message: "Item added to cart"))
        case .insufficientStock:
            throw Self.insufficientStock(productID, available: limit)
        case .userDeleted:
            throw APIError(.notFound, code: "user_not_found", message: "user not found")
        case .contended:
            throw Self.contended()
        }
    }

    /// `GET /user/{userId}`: the cart's lines, each the product service's current answer for the product
    /// (`product` with its current `price`, and `inventory`) plus `productId` and `quantity`, in product id order.
    /// Lines whose product no longer exists are left out (and logged).
    /// - Returns: 200 with the array; `[]` for an empty cart.
    /// - Throws: 400 `invalid_id`, 401, 403, 404 `cart_not_found`, 502/503 when a peer fails.
    @Sendable
    func cart(request: Request, context: ServiceRequestContext) async throws -> CartResponse {
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        _ = try context.requireAccess(toUser: userID)
        guard let cart = try await self.repository.cart(userID: userID) else { throw Self.cartNotFound() }
        let lines = cart.items.sorted { $0.key < $1.key }
        let (products, inventory) = (self.products, self.inventory)
        return try await withThrowingTaskGroup(of: (Int, JSONValue?).self) { group in
            for (index, (productID, item)) in lines.enumerated() {
                group.addTask {
                    guard var line = try await products.product(productID) else { return (index, nil) }
                    if line["inventory"] == nil, let record = try await inventory.record(productID: productID) {
                        line["inventory"] = .object(record)
                    }
                    line["productId"] = .string(productID)
                    line["quantity"] = .integer(Int64(item.quantity))
                    return (index, .object(line))
                }
            }
            var results = [JSONValue?](repeating: nil, count: lines.count)
            for try await (index, line) in group {
                results[index] = line
                if line == nil {
                    context.logger.warning(
                        "cart line left out: the product no longer exists",
                        metadata: ["cart.user": "\(userID)", "cart.product": "\(lines[index].key)"]
                    )
                }
            }
            return CartResponse(lines: results.compactMap { $0 })
        }
    }

    /// `DELETE /delete/{userId}`: empties the user's cart (the cart itself stays, ready for new items).
    /// - Returns: 200 `{"message": "Cart cleared", "userId"}`.
    /// - Throws: 400 `invalid_id`, 401, 403, 404 `cart_not_found`.
    @Sendable
    func clear(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<MessageResponse> {
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        _ = try context.requireAccess(toUser: userID)
        guard try await self.repository.clear(userID: userID) else { throw Self.cartNotFound() }
        return EditedResponse(status: .ok, response: MessageResponse(message: "Cart cleared", userId: userID))
    }

    /// `PUT /user/{userId}/items/{productId}` `{quantity}`: sets the product's quantity in the cart (creating the
    /// cart if needed); 0 removes the product (and succeeds whether or not it was there).
    /// - Returns: 200 `{"message": "Cart updated", "userId", "productId", "quantity"}`.
    /// - Throws: 400 (`invalid_id`, quantity not an integer ≥ 0), 401, 403, 404 `product_not_found` /
    ///   `cart_not_found` (quantity 0 without a cart) / `user_not_found`, 409 `insufficient_stock`, 502/503.
    @Sendable
    func setQuantity(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<MessageResponse> {
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        _ = try context.requireAccess(toUser: userID)
        let productID = try Self.objectID(context.parameters.get("productId"), name: "productId")
        let body = try await request.decode(as: SetQuantityRequest.self, context: context)
        let quantity = try Self.quantity(body.quantity, allowZero: true)
        let answer = MessageResponse(message: "Cart updated", userId: userID, productId: productID, quantity: quantity)
        if quantity == 0 {
            if try await self.repository.removeItem(userID: userID, productID: productID) == .cartNotFound {
                throw Self.cartNotFound()
            }
            return EditedResponse(status: .ok, response: answer)
        }
        let limit = try await self.checkedStock(productID)
        guard quantity <= limit else { throw Self.insufficientStock(productID, available: limit) }
        switch try await self.repository.setQuantity(userID: userID, productID: productID, quantity: quantity) {
        case .set: return EditedResponse(status: .ok, response: answer)
        case .userDeleted: throw APIError(.notFound, code: "user_not_found", message: "user not found")
        case .contended: throw Self.contended()
        }
    }

    /// `DELETE /user/{userId}/items/{productId}`: removes the product from the cart.
    /// - Returns: 200 `{"message": "Item removed from cart", "userId", "productId"}`.
    /// - Throws: 400 `invalid_id`, 401, 403, 404 `cart_not_found` / `item_not_found`.
    @Sendable
    func removeItem(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<MessageResponse> {
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        _ = try context.requireAccess(toUser: userID)
        let productID = try Self.objectID(context.parameters.get("productId"), name: "productId")
        switch try await self.repository.removeItem(userID: userID, productID: productID) {
        case .removed:
            return EditedResponse(
                status: .ok,
                response: MessageResponse(message: "Item removed from cart", userId: userID, productId: productID)
            )
        case .itemNotFound:
            throw APIError(.notFound, code: "item_not_found", message: "the cart does not hold product \(productID)")
        case .cartNotFound:
            throw Self.cartNotFound()
        }
    }

    /// `POST /checkout/{userId}` `{orderId}`: the order service checks the cart out for a new order. Every orderable
    /// line moves, atomically, under the order id; lines added afterwards belong to the next order. A repeat for the
    /// same order answers the same lines (safe to retry).
    /// - Returns: 200 `{orderId, items: [{productId, quantity}]}`, items in product id order.
    /// - Throws: 400 `invalid_id` / `cart_empty`, 401, 403 (not a service or an admin), 409 `checkout_in_progress`
    ///   when the lines are already checked out for a pending order (a double submit), 503 `cart_busy`.
    @Sendable
    func checkout(request: Request, context: ServiceRequestContext) async throws -> CheckoutResponse {
        let identity = try context.requireIdentity()
        guard identity.role == .service || identity.role == .admin else { throw AuthError.forbidden }
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        let body = try await request.decode(as: CheckoutRequest.self, context: context)
        let orderID = try Self.objectID(body.orderId, name: "orderId")
        switch try await self.repository.checkout(userID: userID, orderID: orderID) {
        case .checkedOut(let items):
            context.logger.info(
                "cart checked out",
                metadata: ["cart.user": "\(userID)", "order.id": "\(orderID)", "cart.lines": "\(items.count)"]
            )
            return CheckoutResponse(
                orderId: orderID,
                items: items.sorted { $0.key < $1.key }.map { .init(productId: $0.key, quantity: $0.value) }
            )
        case .inProgress(let pending):
            throw Self.checkoutInProgress(orderID: pending)
        case .empty:
            throw APIError(.badRequest, code: "cart_empty", message: "Cart is empty or not found")
        case .contended:
            throw Self.contended()
        }
    }

    /// 409 naming the pending order that holds the cart's lines.
    static func checkoutInProgress(orderID: String) -> APIError {
        APIError(
            .conflict,
            code: "checkout_in_progress",
            message:
                "the cart's lines are being ordered by order \(orderID); wait for it, or add items for a new order",
            details: ["orderId": orderID]
        )
    }

    /// `GET /user/{userId}` answer: a bare JSON array (the original's shape, which the order service reads).
    struct CartResponse: ResponseEncodable {
        var lines: [JSONValue]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(self.lines)
        }
    }

    // MARK: - Checks

    /// The product must exist; returns the units available for sale. Product and inventory are asked concurrently.
    private func checkedStock(_ productID: String) async throws -> Int {
        async let product = self.products.product(productID)
        async let available = self.inventory.available(productID: productID)
        guard try await product != nil else {
            _ = try? await available
            throw APIError(.notFound, code: "product_not_found", message: "product not found")
        }
        return try await available
    }

    /// A 24-hex id (either case), lower-cased; 400 `invalid_id` otherwise.
    static func objectID(_ value: String?, name: String) throws -> String {
        try MongoObjectID.fromRequest(value, name: name).hex
    }

    /// A positive (or, with `allowZero`, non-negative) quantity; 400 `validation_failed` otherwise.
    static func quantity(_ value: Int?, allowZero: Bool) throws -> Int {
        guard let value, value > 0 || (allowZero && value == 0) else {
            throw APIError.validation(
                allowZero ? "quantity must be an integer of 0 or more" : "quantity must be a positive integer"
            )
        }
        return value
    }

    static func contended() -> APIError {
        APIError.unavailable("the cart is being changed by other requests; try again", code: "cart_busy")
    }

    static func cartNotFound() -> APIError {
        APIError(.notFound, code: "cart_not_found", message: "cart not found")
    }

    static func insufficientStock(_ productID: String, available: Int) -> APIError {
        APIError(
            .conflict,
            code: "insufficient_stock",
            message: "not enough stock of product \(productID): \(available) available for the whole cart"
        )
    }
}
