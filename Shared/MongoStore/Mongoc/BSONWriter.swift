internal import CMongoC
import Foundation

/// Writes ``MongoDocument``s (filters, updates, options, and the documents that `Codable` values encode to) into
/// libbson documents with `bson_append_*`, each ``MongoValue`` case as its BSON type: `.int` as int32 when it fits and
/// int64 otherwise (what the Extended JSON reader did with a JSON integer), `.date` as a date in milliseconds.
///
/// Sub-documents and arrays are written in place (`bson_append_document_begin`/`_end`) into a child `bson_t`, which
/// must be 128-byte aligned and so lives in heap storage, one per nesting depth, reused for every sibling.
struct BSONWriter: ~Copyable {
    private var children: [UnsafeMutableRawPointer] = []

    /// A new heap document holding `document`. The caller owns it and must `bson_destroy` it.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when libbson refuses a field (a key containing NUL).
    static func makeDocument(_ document: MongoDocument) throws -> OpaquePointer {
        let bson = bson_new()!
        var writer = BSONWriter()
        do {
            try writer.appendFields(of: document, to: bson, depth: 0)
        } catch {
            bson_destroy(bson)
            throw error
        }
        return bson
    }

    deinit {
        for child in self.children { child.deallocate() }
    }

    private mutating func appendFields(of document: MongoDocument, to bson: OpaquePointer, depth: Int) throws {
        for field in document.fields { try self.append(field.value, key: field.key, to: bson, depth: depth) }
    }

    private mutating func append(_ value: MongoValue, key: String, to bson: OpaquePointer, depth: Int) throws {
        var key = key
        let appended = try key.withUTF8 { utf8 in
            try utf8.withMemoryRebound(to: CChar.self) { name in
                try self.append(value, name: name.baseAddress, length: Int32(name.count), to: bson, depth: depth)
            }
        }
        guard appended else {
            throw MongoStoreError(.invalidDocument, "libbson refused the field '\(key)' (a key with NUL, or too large)")
        }
    }

    private mutating func append(
        _ value: MongoValue,
        name: UnsafePointer<CChar>?,
        length: Int32,
        to bson: OpaquePointer,
        depth: Int
    ) throws -> Bool {
        switch value {
        case .string(var string):
            if string.isEmpty { return bson_append_utf8(bson, name, length, "", 0) }
            return string.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { text in
                    bson_append_utf8(bson, name, length, text.baseAddress, Int32(text.count))
                }
            }
        case .int(let int):
            if let small = Int32(exactly: int) { return bson_append_int32(bson, name, length, small) }
            return bson_append_int64(bson, name, length, int)
        case .double(let double): return bson_append_double(bson, name, length, double)
        case .bool(let bool): return bson_append_bool(bson, name, length, bool)
        case .null: return bson_append_null(bson, name, length)
        case .objectID(let id):
            var oid = bson_oid_t()
            id.hex.withCString { bson_oid_init_from_string(&oid, $0) }
            return bson_append_oid(bson, name, length, &oid)
        case .date(let date): return bson_append_date_time(bson, name, length, date.epochMilliseconds)
        case .document(let document):
            let child = self.child(at: depth)
            guard bson_append_document_begin(bson, name, length, child) else { return false }
            try self.appendFields(of: document, to: child, depth: depth + 1)
            return bson_append_document_end(bson, child)
        case .array(let elements):
            let child = self.child(at: depth)
            guard bson_append_array_begin(bson, name, length, child) else { return false }
            for (index, element) in elements.enumerated() {
                try self.append(element, key: String(index), to: child, depth: depth + 1)
            }
            return bson_append_array_end(bson, child)
        }
    }

    /// The child `bson_t` storage for a sub-document at `depth` (siblings reuse it: one is finished before the next).
    private mutating func child(at depth: Int) -> OpaquePointer {
        while self.children.count <= depth {
            self.children.append(UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128))
        }
        return OpaquePointer(self.children[depth])
    }
}
