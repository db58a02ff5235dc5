/// Where carts live. Every operation is a single atomic store operation (or a short, documented sequence of them that
/// is safe under any interleaving), so concurrent requests and event handlers never lose an update.
protocol CartRepository: Sendable {
    /// Creates what the repository needs at startup (collections, indexes). Idempotent.
    func prepare() async throws

    /// The user's cart, or `nil` when the user has none.
    func cart(userID: String) async throws -> Cart?

    /// Adds `quantity` of `productID` to the user's cart, creating the cart when the user has none, only if the
    /// resulting quantity of that product is at most `limit`.
    func add(userID: String, productID: String, quantity: Int, limit: Int) async throws -> CartAddOutcome

    /// Sets the quantity of `productID` (> 0) in the user's cart, creating the cart when the user has none.
    func setQuantity(userID: String, productID: String, quantity: Int) async throws -> CartSetOutcome

    /// Removes `productID` from the user's cart.
    func removeItem(userID: String, productID: String) async throws -> CartRemoveOutcome

    /// Empties the user's cart (the cart itself stays). Returns `false` when the user has no cart.
    func clear(userID: String) async throws -> Bool

    /// `user-created`: gives the user an empty cart unless it has one or was deleted. Idempotent.
    /// Returns `false` when the user was deleted (nothing created).
    @discardableResult
    func createEmptyCart(userID: String) async throws -> Bool

    /// `user-deleted`: records the deletion (so no cart is created for the user later) and deletes its cart. Idempotent.
    func deleteUser(userID: String) async throws
}

/// The result of ``CartRepository/add(userID:productID:quantity:limit:)``.
enum CartAddOutcome: Sendable, Equatable {
    /// Added; `quantity` is the product's quantity in the cart now.
    case added(quantity: Int)
    /// Not added: the resulting quantity would exceed the limit.
    case insufficientStock
    /// Not added: the user was deleted.
    case userDeleted
    /// Not added: other writes to the same cart kept getting in between; the caller may retry.
    case contended
}

/// The result of ``CartRepository/setQuantity(userID:productID:quantity:)``.
enum CartSetOutcome: Sendable, Equatable {
    case set
    /// Not set: the user was deleted.
    case userDeleted
    /// Not set: other writes to the same cart kept getting in between; the caller may retry.
    case contended
}

/// The result of ``CartRepository/removeItem(userID:productID:)``.
enum CartRemoveOutcome: Sendable, Equatable {
    case removed
    /// The cart exists but does not hold the product.
    case itemNotFound
    /// The user has no cart.
    case cartNotFound
}
