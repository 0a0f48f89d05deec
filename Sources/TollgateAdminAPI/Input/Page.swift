import HTTPTypes
import TollgateGateway

/// A page of a list: at most `limit` items whose id sorts after `cursor` (the previous page's
/// `next_cursor`, which is its last id). Keyset pagination: an item that exists throughout a
/// walk is returned exactly once, however many others are written meanwhile.
struct Page: Sendable {
    var limit: Int
    /// The last id of the previous page; nil for the first page.
    var after: String?

    /// `ids`: the format of the list's ids (``AdminFormat``), which a cursor must have.
    init(query: [String: String], configuration: AdminAPIConfiguration, ids: String = AdminFormat.identifier) throws(APIError) {
        limit = configuration.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), (1...configuration.maximumPageSize).contains(value) else {
                throw .invalid("limit", "limit must be a whole number between 1 and \(configuration.maximumPageSize)")
            }
            limit = value
        }
        if let cursor = query["cursor"] {
            guard AdminFormat.matches(cursor, ids) else { throw .invalid("cursor", "cursor must be a next_cursor this API returned") }
            after = cursor
        }
    }

    /// One page of `items`, sorted by `id`.
    func slice<Item>(_ items: [Item], id: (Item) -> String) -> (items: [Item], next: String?) {
        let sorted = items.sorted { id($0) < id($1) }
        let remaining = after.map { after in sorted.drop(while: { id($0) <= after }) } ?? sorted[...]
        let page = Array(remaining.prefix(limit))
        return (page, remaining.count > limit ? page.last.map(id) : nil)
    }
}

/// The JSON shape of every list: the items and the cursor of the next page (null at the end).
struct PageReply<Item: Encodable>: Encodable {
    var data: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
