import Foundation
import MongoStore
import ServiceAuth

/// A stored account (`UserService.users`): snake_case timestamps as the original stored them, the bcrypt hash in
/// `password`, and a `role` the original did not have (documents without one are customers).
struct User: Codable, Sendable, Equatable {
    var id: MongoObjectID
    var name: String
    /// Lower case; unique (index `email_1`).
    var email: String
    /// As the original: an integer, 0 when not given.
    var phone: Int64
    /// The bcrypt hash. Never leaves the service.
    var password: String
    var role: Role
    var createdAt: Date
    var updatedAt: Date

    init(
        id: MongoObjectID = MongoObjectID(),
        name: String,
        email: String,
        phone: Int64,
        password: String,
        role: Role,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.name = name
        self.email = email
        self.phone = phone
        self.password = password
        self.role = role
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(MongoObjectID.self, forKey: .id)
        self.name = try container.decode(String.self, forKey: .name)
        self.email = try container.decode(String.self, forKey: .email)
        self.phone = try container.decodeIfPresent(Int64.self, forKey: .phone) ?? 0
        self.password = try container.decode(String.self, forKey: .password)
        self.role = try container.decodeIfPresent(Role.self, forKey: .role) ?? .customer
        self.createdAt = try container.decode(Date.self, forKey: .createdAt)
        self.updatedAt = try container.decodeIfPresent(Date.self, forKey: .updatedAt) ?? self.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, email, phone, password, role
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// The identity its tokens carry.
    var identity: Identity { Identity(userID: self.id.hex, email: self.email, role: self.role) }
}
