using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception.Tests.Rules;

public sealed class RuleSetTests
{
    [Fact]
    public void BuildRestore_ChainsInFirstUseOrderThenJumpTargets_TablesSorted()
    {
        var rb = new IptablesRuleSet(enableIPv6: false);
        rb.AppendRule("ISTIO_B", "nat", "-j", "ISTIO_JUMP_ONLY");
        rb.AppendRule("OUTPUT", "raw", "-j", "ISTIO_A");
        rb.AppendRule("ISTIO_A", "raw", "-j", "RETURN");
        rb.AppendRule("PREROUTING", "mangle", "-j", "ISTIO_B");

        Assert.Equal(
            "* mangle\n-N ISTIO_B\n-A PREROUTING -j ISTIO_B\nCOMMIT\n" +
            "* nat\n-N ISTIO_B\n-N ISTIO_JUMP_ONLY\n-A ISTIO_B -j ISTIO_JUMP_ONLY\nCOMMIT\n" +
            "* raw\n-N ISTIO_A\n-A OUTPUT -j ISTIO_A\n-A ISTIO_A -j RETURN\nCOMMIT\n",
            rb.BuildRestore(IpFamily.V4));
        Assert.Equal("", rb.BuildRestore(IpFamily.V6));
    }

    [Fact]
    public void AppendVersionedRule_IPv6Enabled_SubstitutesPerFamily()
    {
        var rb = new IptablesRuleSet(enableIPv6: true);
        rb.AppendVersionedRule("127.0.0.1/32", "::1/128", "ISTIO_OUTPUT", "nat", "-d", IptablesRuleSet.IPVersionSpecific, "-j", "RETURN");

        Assert.Equal("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN", rb.V4.Single().Text);
        Assert.Equal("-A ISTIO_OUTPUT -d ::1/128 -j RETURN", rb.V6.Single().Text);
    }

    [Fact]
    public void NftInsertRule_IndexBeyondOrIntoChain_PlacedLikeNftInsert()
    {
        var nft = new NftablesRuleSet(enableIPv6: true);
        nft.InsertRule("istio-inbound", NftablesRuleSet.MangleTable, 0, "first-into-empty");
        nft.AppendRule("istio-inbound", NftablesRuleSet.MangleTable, "appended");
        nft.InsertRule("istio-inbound", NftablesRuleSet.MangleTable, 1, "at-1");
        nft.InsertRule("istio-inbound", NftablesRuleSet.MangleTable, 9, "beyond-end");

        Assert.Equal(["first-into-empty", "at-1", "appended", "beyond-end"], nft.RulesOf(NftablesRuleSet.MangleTable, "istio-inbound"));
    }

    [Fact]
    public void NftBuildScript_NoRulesInATable_TableOnlyDeleted()
    {
        var nft = new NftablesRuleSet(enableIPv6: false);
        nft.AppendRule("output", NftablesRuleSet.NatTable, "jump", "istio-output");
        nft.AppendRule("istio-output", NftablesRuleSet.NatTable, "return");

        var lines = nft.BuildScript().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("delete table inet istio-proxy-mangle", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("add chain inet istio-proxy-mangle", StringComparison.Ordinal));
        Assert.Equal(
            ["add table inet istio-proxy-nat", "add chain inet istio-proxy-nat output { type nat hook output priority -100 ; }",
             "add chain inet istio-proxy-nat istio-output", "add rule inet istio-proxy-nat output jump istio-output",
             "add rule inet istio-proxy-nat istio-output return"],
            lines.Skip(6));
    }
}
