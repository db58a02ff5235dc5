/// The seven services of the platform: their names, default ports and databases, and the configuration keys through
/// which they find each other. One table, so a port or a peer URL is never spelled twice.
package enum StorefrontService: String, CaseIterable, Sendable, Codable {
    case user
    case product
    case inventory
    case cart
    case order
    case payment
    case notification

    /// The port of the original system, which clients depend on.
    package var defaultPort: Int {
        switch self {
        case .user: 8080
        case .product: 4000
        case .inventory: 6000
        case .cart: 9000
        case .order: 7000
        case .payment: 3000
        case .notification: 2000
        }
    }

    /// The database this service owns (one per service).
    package var defaultDatabase: String {
        switch self {
        case .user: "UserService"
        case .product: "ProductService"
        case .inventory: "InventoryService"
        case .cart: "CartService"
        case .order: "OrderService"
        case .payment: "PaymentService"
        case .notification: "NotificationService"
        }
    }

    /// The executable product, e.g. `user-service`; also the service's name in logs, metrics and client ids.
    package var executableName: String { "\(self.rawValue)-service" }

    /// Key of this service's listening port, e.g. `user.port` (`USER_PORT`).
    package var portKey: String { "\(self.rawValue).port" }

    /// Key of the URL other services use to call this one, e.g. `user.url` (`USER_URL`).
    package var urlKey: String { "\(self.rawValue).url" }

    /// The URL other services use by default: the service on loopback.
    package var defaultURL: String { "http://127.0.0.1:\(self.defaultPort)" }
}
