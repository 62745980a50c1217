import Testing
import ReckonCore
import ReckonFocus
@testable import ReckonTransform

@Suite("The estimated invoice: credits, rounding, tax; corrections of closed periods")
struct InvoiceTermsTests {
    /// One estimated usage row of `cost` for an account.
    func usage(_ cost: ExactDecimal, account: String = "acct-1", currency: String = "USD", sku: String = "openai:gpt-4o:tokens_input") -> FocusRow {
        var r = FocusRow()
        r.set(.billedCost, cost)
        r.set(.billingAccountId, account)
        r.set(.billingCurrency, currency)
        r.set(.skuId, sku)
        r.set(.chargeCategory, "Usage")
        return r
    }

    func terms(taxes: String, credits: String) throws -> InvoiceTerms {
        let dir = Jobs.tempDir("terms")
        try Jobs.write("provider,billing_account,tax_category,rate_percent,effective_from\n" + taxes, to: dir + "/taxes.csv")
        try Jobs.write("provider,billing_account,credit_id,amount,currency,valid_from,valid_through,description\n" + credits, to: dir + "/credits.csv")
        return try InvoiceTerms.load(input: dir)
    }

    func summary(_ rows: [FocusRow]) -> [String] {
        rows.map { "\($0[.chargeCategory].string!) \($0[.billedCost].decimal!)" }
    }

    @Test func creditsDrawDownAcrossPeriodsThenTheNetIsRoundedAndTaxed() throws {
        let t = try terms(taxes: "openai,acct-1,S,20,2025-01-01\nopenai,acct-1,S,21,2026-11-01\n",
                          credits: "openai,acct-1,promo,100,USD,2026-10-01,2026-11-30,Promo\nopenai,acct-1,old,50,USD,2025-01-01,2026-09-30,Expired\n")
        let oct = BillingPeriod(year: 2026, month: 10)!, nov = oct.next, dec = nov.next
        var totals = InvoiceTerms.Totals()
        totals.add(usage("60.004"), period: oct)
        totals.add(usage("55.555"), period: nov)
        totals.add(usage("10"), period: dec)
        var balances: [String: ExactDecimal] = [:]
        // October: 60.004 all covered by the grant (100 → 39.996 left); the net is -0.000 → rounding 0.
        #expect(summary(t.documentRows(period: oct, totals: totals, balances: &balances)) == ["Credit -60.004"])
        // November: 39.996 left covers part; net 15.559 → 15.56 (+0.001); VAT 21% from 1 November: 3.2676 → 3.27.
        #expect(summary(t.documentRows(period: nov, totals: totals, balances: &balances)) == ["Credit -39.996", "Adjustment 0.001", "Tax 3.27"])
        #expect(balances["openai|acct-1|promo"] == 0)
        // December: the grant has ended; 21% of 10.
        #expect(summary(t.documentRows(period: dec, totals: totals, balances: &balances)) == ["Tax 2.1"])
    }

    @Test func currenciesRoundToTheirMinorUnit() throws {
        let t = try terms(taxes: "openai,acct-1,S,10,2025-01-01\n", credits: "")
        let oct = BillingPeriod(year: 2026, month: 10)!
        var totals = InvoiceTerms.Totals()
        totals.add(usage("1234.5", currency: "JPY"), period: oct)
        var balances: [String: ExactDecimal] = [:]
        let rows = t.documentRows(period: oct, totals: totals, balances: &balances)
        #expect(summary(rows) == ["Adjustment 0.5", "Tax 124.0"])
        #expect(rows.allSatisfy { $0[.listCost] == $0[.billedCost] && $0[.effectiveCost] == $0[.billedCost] && $0[.pricingQuantity] == .null })
    }

    @Test func badTermsNameTheFileAndLine() throws {
        #expect(throws: ReckonError.self) { try terms(taxes: "openai,acct-1,S,twenty,2025-01-01\n", credits: "") }
        do { _ = try terms(taxes: "", credits: "openai,acct-1,c1,10,USD,2026-10-01,,A\nopenai,acct-1,c1,5,USD,2026-10-01,,B\n") } catch let e as ReckonError {
            #expect(e.message.contains("credit c1 is listed twice") && e.position?.line == 3)
        }
    }

    @Test func correctionsAreTheDifferenceFromWhatWasSignedOff() {
        let nov = BillingPeriod(year: 2026, month: 11)!
        var a = usage("1.50"); a.set(.consumedQuantity, 500000); a.set(.chargeDescription, "a")
        var b = usage("2.00"); b.set(.chargeDescription, "b")
        var c = usage("0.25"); c.set(.chargeDescription, "c")
        var aLater = a; aLater.set(.billedCost, "1.80" as ExactDecimal); aLater.set(.consumedQuantity, 600000)
        // a grew, b is unchanged, c is gone, d is new.
        var d = usage("0.10"); d.set(.chargeDescription, "d")
        let rows = PeriodCorrections.rows(tonight: [aLater, b, d], signedOff: [a, b, c], bookedIn: nov)
        #expect(rows.map { "\($0[.chargeDescription].string!) \($0[.billedCost].decimal!) \($0[.consumedQuantity].decimal?.description ?? "-")" }
                == ["a 0.3 100000.0", "d 0.1 -", "c -0.25 -"])
        #expect(rows.allSatisfy { $0[.chargeClass] == .string("Correction") && $0[.billingPeriodStart] == .dateTime(nov.start) })
        #expect(PeriodCorrections.rows(tonight: [a, b], signedOff: [a, b], bookedIn: nov).isEmpty)
    }
}
