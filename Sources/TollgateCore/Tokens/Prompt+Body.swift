extension Prompt {
    /// The prompt in a request body: exactly one of `text`, `messages` (with Anthropic's
    /// `system`) or `input` (with `instructions`); `tools` (or `functions`) go with messages and
    /// input. Nil when the body has none.
    public init?(body object: [String: JSONValue]) throws(PromptError) {
        let present = ["text", "messages", "input"].filter { object[$0].map { !$0.isNull } ?? false }
        guard present.count <= 1 else { throw PromptError(field: present[1], message: "send only one of text, messages or input") }
        guard let name = present.first, let value = object[name] else { return nil }
        // system and instructions are checked whichever prompt they come with (they are read
        // with messages and input respectively), so a body's validity does not depend on it.
        let system = object["system"].flatMap { $0.isNull ? nil : $0 }
        switch system {
        case nil, .string?: break
        case .array(let blocks)? where blocks.allSatisfy({ $0.objectValue != nil }): break
        default: throw PromptError(field: "system", message: "system must be a string or an array of content blocks")
        }
        var instructions: String?
        if let value = object["instructions"], !value.isNull {
            guard let text = value.stringValue else { throw PromptError(field: "instructions", message: "instructions must be a string") }
            instructions = text
        }
        var tools: [JSONValue] = []
        for key in ["tools", "functions"] {
            guard let list = object[key], !list.isNull else { continue }
            guard case .array(let items) = list, items.allSatisfy({ $0.objectValue != nil }) else {
                throw PromptError(field: key, message: "\(key) must be an array of objects")
            }
            tools += items
        }
        switch (name, value) {
        case ("text", .string(let text)):
            self = .text(text)
        case ("text", _):
            throw PromptError(field: "text", message: "text must be a string")
        case ("messages", .array(let messages)):
            self = .messages(messages, system: system, tools: tools)
        case ("messages", _):
            throw PromptError(field: "messages", message: "messages must be an array")
        default:
            self = .responses(value, instructions: instructions, tools: tools)
        }
    }
}
