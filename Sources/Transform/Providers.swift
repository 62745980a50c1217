import ReckonCore
import ReckonFocus

extension FocusRow {
    /// Sets who provides, hosts and invoices the service, and its category: the columns every
    /// Reckon row carries the same way. The invoice issuer is the profile's (not the seller name as
    /// an invoice spells it): FOCUS reads an issuer other than the provider as a marketplace sale.
    mutating func setService(_ profile: ProviderProfile) {
        set(.invoiceIssuerName, profile.invoiceIssuerName)
        set(.providerName, profile.providerName)
        set(.publisherName, profile.providerName)
        set(.serviceProviderName, profile.providerName)
        set(.hostProviderName, profile.hostProviderName)
        set(.serviceCategory, "AI and Machine Learning")
        set(.serviceSubcategory, "Generative AI")
        set(.serviceName, profile.serviceName)
    }
}

/// Who provides, hosts and invoices a provider's service, and how FOCUS names it.
/// Built in for the providers Reckon reads; names of accounts come from `accounts.csv`.
public struct ProviderProfile: Sendable {
    public var id: String
    /// `ServiceProviderName`, and the deprecated `ProviderName` / `PublisherName`.
    public var providerName: String
    /// `HostProviderName`: where the model runs (AWS for Claude on Bedrock).
    public var hostProviderName: String
    public var invoiceIssuerName: String
    public var serviceName: String

    public static let builtIn: [String: ProviderProfile] = [
        "anthropic": ProviderProfile(id: "anthropic", providerName: "Anthropic", hostProviderName: "Anthropic",
                                     invoiceIssuerName: "Anthropic", serviceName: "Claude API"),
        "openai": ProviderProfile(id: "openai", providerName: "OpenAI", hostProviderName: "OpenAI",
                                  invoiceIssuerName: "OpenAI", serviceName: "OpenAI API"),
        "google": ProviderProfile(id: "google", providerName: "Google", hostProviderName: "Google",
                                  invoiceIssuerName: "Google", serviceName: "Gemini API"),
        "promptlayer": ProviderProfile(id: "promptlayer", providerName: "PromptLayer", hostProviderName: "PromptLayer",
                                       invoiceIssuerName: "PromptLayer", serviceName: "PromptLayer"),
    ]

    /// The profile for `id`; an unknown provider keeps its id as every name.
    public static func named(_ id: String) -> ProviderProfile {
        builtIn[id] ?? ProviderProfile(id: id, providerName: id, hostProviderName: id, invoiceIssuerName: id, serviceName: id)
    }
}

/// Display names of billing accounts and sub-accounts, from the optional `accounts.csv`:
/// `provider,account_type,id,name` with `account_type` `billing_account` or `sub_account`.
public struct AccountNames: Sendable {
    private var names: [String: String] = [:]

    public init() {}

    public static func load(path: String) throws -> AccountNames {
        var result = AccountNames()
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "account_type", "id", "name"]) {
            let at = SourcePosition(file: path, line: line)
            let (p, t, id, name) = (f[0], f[1], f[2], f[3])
            guard !id.isEmpty, !name.isEmpty else {
                throw ReckonError(.badData, "expected provider,account_type,id,name with an id and a name", at: at)
            }
            guard t == "billing_account" || t == "sub_account" else {
                throw ReckonError(.badData, "account_type must be billing_account or sub_account, not \"\(t)\"", at: at)
            }
            result.names[p + "|" + t + "|" + id] = name
        }
        return result
    }

    public func billingAccountName(provider: String, id: String) -> String? { names[provider + "|billing_account|" + id] }
    public func subAccountName(provider: String, id: String) -> String? { names[provider + "|sub_account|" + id] }
}
