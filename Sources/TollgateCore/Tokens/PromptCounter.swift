import Foundation
import TollgateTokenizer

/// What a prompt counts to, and whether the count is what the provider will bill.
public struct PromptCount: Sendable, Hashable {
    public var tokens: Int64
    public var tokenizer: TokenizerChoice
    /// False for estimates: an estimator factor, an image of unknown size, a shape no
    /// provider publishes counting rules for (Responses items, nested tool schemas).
    public var exact: Bool
}

/// A prompt the gateway can count: plain text, chat messages (OpenAI or Anthropic shapes, with
/// tools), or a Responses API `input`.
public enum Prompt: Sendable {
    case text(String)
    /// OpenAI chat `messages` (or Anthropic `messages` + `system`), with `tools`/`functions`.
    case messages([JSONValue], system: JSONValue?, tools: [JSONValue])
    /// Responses API `input` (a string or items) with its `instructions` and `tools`.
    case responses(JSONValue, instructions: String?, tools: [JSONValue])
}

public struct PromptError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String
    public var description: String { message }
}

/// Counts prompts as providers bill them; the rules and their sources are in Docs/tokens.md.
public struct PromptCounter: Sendable {
    public let choice: TokenizerChoice
    private let tokenizer: Tokenizer
    private let family: ModelFamily

    /// The counter for a model; loads the encoding on first use in the process, on the
    /// calling thread (tools, tests).
    public init(choice: TokenizerChoice, model: String) throws {
        self.init(choice: choice, model: model, tokenizer: try Tokenizer.shared(choice.encoding))
    }

    /// The counter for a model, for async code: a first load runs off the cooperative pool.
    public static func load(choice: TokenizerChoice, model: String) async throws -> PromptCounter {
        PromptCounter(choice: choice, model: model, tokenizer: try await Tokenizer.loaded(choice.encoding))
    }

    private init(choice: TokenizerChoice, model: String, tokenizer: Tokenizer) {
        self.choice = choice
        self.tokenizer = tokenizer
        family = ModelFamily(model: model, choice: choice)
    }

    public func count(_ prompt: Prompt) throws(PromptError) -> PromptCount {
        var tally = Tally()
        switch prompt {
        case .text(let text):
            tally.add(tokenizer.count(text))
        case .messages(let messages, let system, let tools):
            if let system { try countMessage(.object(["role": .string("system"), "content": system]), into: &tally) }
            for message in messages { try countMessage(message, into: &tally) }
            tally.add(3)  // every reply is primed with <|start|>assistant<|message|>
            try countTools(tools, into: &tally)
        case .responses(let input, let instructions, let tools):
            tally.exact = false  // OpenAI publishes no counting rules for Responses items
            if let instructions { try countMessage(.object(["role": .string("developer"), "content": .string(instructions)]), into: &tally) }
            switch input {
            case .string(let text): try countMessage(.object(["role": .string("user"), "content": .string(text)]), into: &tally)
            case .array(let items): for item in items { try countMessage(item, into: &tally) }
            default: throw PromptError(field: "input", message: "input must be a string or an array of items")
            }
            tally.add(3)
            try countTools(tools, into: &tally)
        }
        return PromptCount(tokens: choice.scale(tally.tokens), tokenizer: choice, exact: tally.exact && choice.isExact)
    }

    private struct Tally {
        var tokens: Int64 = 0
        var exact = true
        mutating func add(_ count: Int) { tokens += Int64(count) }
    }

    /// OpenAI's rule: 3 tokens per message, then every string field's tokens (role, content,
    /// name, tool_call_id ...), and 1 more for `name`.
    private func countMessage(_ message: JSONValue, into tally: inout Tally) throws(PromptError) {
        guard let fields = message.objectValue else { throw PromptError(field: "messages", message: "each message must be a JSON object") }
        tally.add(3)
        for (key, value) in fields {
            switch value {
            case .string(let text):
                if key == "type" && text == "message" { continue }  // Responses item wrapper
                tally.add(tokenizer.count(text))
                if key == "name" { tally.add(1) }
            case .array(let parts) where key == "content":
                for part in parts { try countPart(part, into: &tally) }
            case .null, .bool, .number:
                continue
            default:
                // tool_calls, function_call, Anthropic tool_use input ...: their JSON text.
                tally.exact = false
                tally.add(tokenizer.count(value.compactText))
            }
        }
    }

    /// One content part: text, an image (OpenAI `image_url` / `input_image`, Anthropic
    /// `image`), or anything else by its JSON text (an estimate).
    private func countPart(_ part: JSONValue, into tally: inout Tally) throws(PromptError) {
        if case .string(let text) = part { return tally.add(tokenizer.count(text)) }
        guard let fields = part.objectValue else { throw PromptError(field: "messages", message: "each content part must be a JSON object or string") }
        switch fields["type"]?.stringValue {
        case "text", "input_text", "output_text":
            tally.add(tokenizer.count(fields["text"]?.stringValue ?? ""))
        case "image_url", "input_image":
            let image = fields["image_url"]
            let url = image?.stringValue ?? image?["url"]?.stringValue ?? ""
            let detail = fields["detail"]?.stringValue ?? image?["detail"]?.stringValue ?? "auto"
            let cost = ImageTokens.openAI(detail: detail, size: ImageSize(dataURL: url), family: family)
            tally.add(cost.tokens)
            if !cost.exact { tally.exact = false }
        case "image":
            let data = fields["source"]?["data"]?.stringValue ?? ""
            tally.add(ImageTokens.anthropic(size: ImageSize(base64: data)))
            tally.exact = false
        case "tool_result":
            tally.exact = false
            if let content = fields["content"] {
                if case .array(let parts) = content { for part in parts { try countPart(part, into: &tally) } } else { tally.add(tokenizer.count(content.compactText)) }
            }
        default:
            tally.exact = false
            tally.add(tokenizer.count(part.compactText))
        }
    }

    /// Tool and function definitions, following OpenAI's counting guide: per function
    /// `func_init` + "name:description", per parameter "name:type:description" and its enum
    /// values, then `func_end`. Nested schemas are counted by their JSON text (an estimate).
    private func countTools(_ tools: [JSONValue], into tally: inout Tally) throws(PromptError) {
        guard !tools.isEmpty else { return }
        let constants = family.toolConstants
        for tool in tools {
            guard let function = (tool["function"] ?? tool).objectValue, let name = function["name"]?.stringValue else {
                tally.exact = false
                tally.add(tokenizer.count(tool.compactText))
                continue
            }
            tally.add(constants.functionInit)
            tally.add(tokenizer.count(name + ":" + Self.trimmingPeriod(function["description"]?.stringValue ?? "")))
            let parameters = function["parameters"] ?? function["input_schema"]
            guard let properties = parameters?["properties"]?.objectValue, !properties.isEmpty else { continue }
            tally.add(constants.propertiesInit)
            for (key, property) in properties {
                tally.add(constants.propertyKey)
                if case .array(let values) = property["enum"] {
                    tally.add(constants.enumInit)
                    for value in values {
                        tally.add(constants.enumItem)
                        tally.add(tokenizer.count(value.stringValue ?? value.compactText))
                    }
                }
                let type = property["type"]?.stringValue ?? ""
                let description = Self.trimmingPeriod(property["description"]?.stringValue ?? "")
                tally.add(tokenizer.count("\(key):\(type):\(description)"))
                if property["properties"] != nil || property["items"] != nil {
                    tally.exact = false
                    tally.add(tokenizer.count((property["properties"] ?? property["items"]!).compactText))
                }
            }
        }
        tally.add(constants.functionEnd)
    }

    private static func trimmingPeriod(_ text: String) -> String {
        text.hasSuffix(".") ? String(text.dropLast()) : text
    }
}

/// The per-model constants of the counting rules.
struct ModelFamily: Sendable {
    var toolConstants: (functionInit: Int, propertiesInit: Int, propertyKey: Int, enumInit: Int, enumItem: Int, functionEnd: Int)
    /// Image tokens for `detail: low` and per 512-px tile (`high`).
    var imageBase: Int
    var imageTile: Int

    init(model: String, choice: TokenizerChoice) {
        let name = model.lowercased()
        toolConstants = choice == .exact(.cl100kBase) ? (10, 3, 3, -3, 3, 12) : (7, 3, 3, -3, 3, 12)
        (imageBase, imageTile) = name.hasPrefix("gpt-4o-mini") ? (2833, 5667) : (85, 170)
    }
}
