// The services' MongoDB user, created by the mongo image on its first start (empty data volume), as root.
// It may read and write the seven services' databases and nothing else. Its password is MONGO_APP_PASSWORD
// (compose/.env); the services connect with it (MONGO_URI in docker-compose.yml).
// Changing the password later: db.getSiblingDB("admin").changeUserPassword("storefront", "...") as root.
const databases = [
  "UserService",
  "ProductService",
  "InventoryService",
  "CartService",
  "OrderService",
  "PaymentService",
  "NotificationService",
];
db.getSiblingDB("admin").createUser({
  user: "storefront",
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: databases.map((name) => ({ role: "readWrite", db: name })),
});
