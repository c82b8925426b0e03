using System.Text;
using SharpProxy.Interception.Options;

namespace SharpProxy.Interception.Rules;

/// <summary>A chain declaration in one of our <c>inet</c> tables; base chains carry their hook.</summary>
internal sealed record NftChain(string Name, string? BaseSpec);

/// <summary>
/// The native nftables rule set, modelled on Istio's <c>--native-nftables</c> backend (tools/istio-nftables): three
/// <c>inet</c> tables <c>istio-proxy-nat</c>, <c>istio-proxy-mangle</c> and <c>istio-proxy-raw</c>, each with
/// <c>prerouting</c>/<c>output</c> base chains and lower-case <c>istio-*</c> regular chains. Inserts are resolved to
/// their final position, so the script contains only <c>add</c> statements in final order.
/// </summary>
internal sealed class NftablesRuleSet(bool enableIPv6)
{
    public const string NatTable = "istio-proxy-nat";
    public const string MangleTable = "istio-proxy-mangle";
    public const string RawTable = "istio-proxy-raw";

    public static readonly IReadOnlyList<string> Tables = [NatTable, MangleTable, RawTable];

    /// <summary>
    /// Chains per table in Istio's declaration order. One deliberate difference: the mangle <c>output</c> chain is of
    /// type <c>route</c>, so that a changed packet mark re-routes the packet as iptables' mangle OUTPUT does.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<NftChain>> Chains = new Dictionary<string, IReadOnlyList<NftChain>>
    {
        [NatTable] =
        [
            new("prerouting", "type nat hook prerouting priority -100 ;"),
            new("output", "type nat hook output priority -100 ;"),
            new("istio-inbound", null),
            new("istio-redirect", null),
            new("istio-in-redirect", null),
            new("istio-output", null),
            new("istio-output-dns", null),
        ],
        [MangleTable] =
        [
            new("prerouting", "type filter hook prerouting priority -150 ;"),
            new("output", "type route hook output priority -150 ;"),
            new("istio-divert", null),
            new("istio-tproxy", null),
            new("istio-inbound", null),
            new("istio-drop", null),
        ],
        [RawTable] =
        [
            new("prerouting", "type filter hook prerouting priority -300 ;"),
            new("output", "type filter hook output priority -300 ;"),
            new("istio-inbound", null),
            new("istio-output-dns", null),
        ],
    };

    private readonly Dictionary<(string Table, string Chain), List<string>> _rules = [];

    public bool EnableIPv6 { get; } = enableIPv6;

    public IReadOnlyList<string> RulesOf(string table, string chain) =>
        _rules.TryGetValue((table, chain), out var list) ? list : [];

    public void AppendRule(string chain, string table, params string[] tokens) => List(table, chain).Add(string.Join(' ', tokens));

    public void AppendV6RuleIfSupported(string chain, string table, params string[] tokens)
    {
        if (EnableIPv6)
        {
            AppendRule(chain, table, tokens);
        }
    }

    /// <summary><c>insert rule ... index N</c>: placed before the rule at (0-based) index N, or appended.</summary>
    public void InsertRule(string chain, string table, int index, params string[] tokens)
    {
        var list = List(table, chain);
        list.Insert(Math.Min(index, list.Count), string.Join(' ', tokens));
    }

    public void InsertV6RuleIfSupported(string chain, string table, int index, params string[] tokens)
    {
        if (EnableIPv6)
        {
            InsertRule(chain, table, index, tokens);
        }
    }

    private List<string> List(string table, string chain)
    {
        if (!_rules.TryGetValue((table, chain), out var list))
        {
            list = [];
            _rules[(table, chain)] = list;
        }

        return list;
    }

    /// <summary>Lines that remove all three tables (each <c>add</c> first so the delete never fails).</summary>
    public static IEnumerable<string> CleanupLines()
    {
        foreach (var table in Tables)
        {
            yield return $"add table inet {table}";
            yield return $"delete table inet {table}";
        }
    }

    /// <summary>The tables, chains and rules as <c>nft -f</c> statements (without the cleanup prologue).</summary>
    public IEnumerable<string> RuleLines()
    {
        foreach (var table in Tables)
        {
            var chains = Chains[table].Where(c => RulesOf(table, c.Name).Count > 0 || IsJumpTarget(table, c.Name)).ToList();
            if (chains.Count == 0)
            {
                continue;
            }

            yield return $"add table inet {table}";
            foreach (var c in chains)
            {
                yield return c.BaseSpec is null
                    ? $"add chain inet {table} {c.Name}"
                    : $"add chain inet {table} {c.Name} {{ {c.BaseSpec} }}";
            }

            foreach (var c in chains)
            {
                foreach (var rule in RulesOf(table, c.Name))
                {
                    yield return $"add rule inet {table} {c.Name} {rule}";
                }
            }
        }
    }

    private bool IsJumpTarget(string table, string chain) =>
        _rules.Where(kv => kv.Key.Table == table).SelectMany(kv => kv.Value)
            .Any(r => r.EndsWith("jump " + chain, StringComparison.Ordinal) || r.EndsWith("goto " + chain, StringComparison.Ordinal));

    /// <summary>One atomic <c>nft -f</c> transaction: drop our tables, then recreate them with the planned rules.</summary>
    public string BuildScript()
    {
        var b = new StringBuilder();
        foreach (var line in CleanupLines().Concat(RuleLines()))
        {
            b.Append(line).Append('\n');
        }

        return b.ToString();
    }

    public static string BuildCleanupScript()
    {
        var b = new StringBuilder();
        foreach (var line in CleanupLines())
        {
            b.Append(line).Append('\n');
        }

        return b.ToString();
    }
}

/// <summary>
/// Generates the nftables rule set in the order of Istio's <c>NftablesConfigurator.Run</c>
/// (tools/istio-nftables/pkg/capture/run.go), with the iptables generator's semantics.
/// </summary>
internal static class IstioNftablesRules
{
    private const string Nat = NftablesRuleSet.NatTable;
    private const string Mangle = NftablesRuleSet.MangleTable;
    private const string Raw = NftablesRuleSet.RawTable;
    private const string Inbound = "istio-inbound";
    private const string Output = "istio-output";
    private const string OutputDns = "istio-output-dns";
    private const string Redirect = "istio-redirect";
    private const string InRedirect = "istio-in-redirect";
    private const string Divert = "istio-divert";
    private const string Tproxy = "istio-tproxy";
    private const string Drop = "istio-drop";
    private const string Dns = IstioIptablesRules.AgentDnsListenerPort;

    /// <exception cref="OptionException">The include/exclude CIDR combination is not usable.</exception>
    public static NftablesRuleSet Build(IptablesOptions cfg)
    {
        var nft = new NftablesRuleSet(cfg.EnableIPv6);
        var (v4Exclude, v6Exclude) = NetworkRange.Separate(cfg.OutboundIPRangesExclude);
        if (v4Exclude.IsWildcard)
        {
            throw new OptionException("invalid value for OUTBOUND_IP_RANGES_EXCLUDE (-x): '*' is not allowed");
        }

        var (v4Include, v6Include) = NetworkRange.Separate(cfg.OutboundIPRangesInclude);
        bool redirectDns = cfg.RedirectDns && (cfg.CaptureAllDns || cfg.DnsServersV4.Count > 0 || cfg.DnsServersV6.Count > 0);
        string loopback = cfg.HostIPv4LoopbackCidr;
        string tunnel = cfg.InboundTunnelPort;

        foreach (var iface in IptablesOptions.Split(cfg.ExcludeInterfaces))
        {
            nft.AppendRule("prerouting", Nat, "iifname", iface, "return");
            nft.AppendRule("output", Nat, "oifname", iface, "return");
        }

        if (cfg.IsTproxy)
        {
            foreach (var iface in IptablesOptions.Split(cfg.ExcludeInterfaces))
            {
                nft.AppendRule("prerouting", Mangle, "iifname", iface, "return");
                nft.AppendRule("output", Mangle, "oifname", iface, "return");
            }
        }

        foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
        {
            nft.InsertRule("prerouting", Nat, 0, "iifname", iface, "return");
        }

        if (cfg.DropInvalid)
        {
            nft.AppendRule("prerouting", Mangle, "meta l4proto tcp", "ct state", "invalid", "jump", Drop);
            nft.AppendRule(Drop, Mangle, "drop");
        }

        nft.AppendRule(Inbound, Nat, "meta l4proto tcp", "tcp dport", tunnel, "return");
        nft.AppendRule(Redirect, Nat, "meta l4proto tcp", "redirect to", ":" + cfg.ProxyPort);
        nft.AppendRule(InRedirect, Nat, "meta l4proto tcp", "redirect to", ":" + cfg.InboundCapturePort);

        HandleInbound(nft, cfg);

        nft.AppendRule("output", Nat, "jump", Output);

        foreach (var port in IptablesOptions.Split(cfg.OutboundPortsExclude))
        {
            nft.AppendRule(Output, Nat, "tcp dport", port, "return");
            nft.AppendRule(Output, Nat, "udp dport", port, "return");
        }

        nft.AppendRule(Output, Nat, "oifname", "lo", "ip saddr", "127.0.0.6/32", "return");
        nft.AppendV6RuleIfSupported(Output, Nat, "oifname", "lo", "ip6 saddr", "::6/128", "return");

        bool loopbackIncluded = v4Include.HasLoopbackIP || v6Include.HasLoopbackIP;
        foreach (var (match, id) in IptablesOptions.Split(cfg.ProxyUid).Select(u => ("skuid", u))
                     .Concat(IptablesOptions.Split(cfg.ProxyGid).Select(g => ("skgid", g))))
        {
            // As in iptables, only the UID rule skips port 53 when DNS is captured.
            string ports = redirectDns && match == "skuid" ? "{ 53, " + tunnel + " }" : tunnel;
            nft.AppendRule(Output, Nat, "oifname", "lo", "meta l4proto tcp", "ip daddr", "!=", loopback,
                "tcp dport", "!=", ports, match, id, "jump", InRedirect);
            nft.AppendV6RuleIfSupported(Output, Nat, "oifname", "lo", "meta l4proto tcp", "ip6 daddr", "!=", "::1/128",
                "tcp dport", "!=", ports, match, id, "jump", InRedirect);

            if (!loopbackIncluded)
            {
                if (redirectDns)
                {
                    // Istio's nft code omits "!=" in the UID variant (a bug); both use "!=" as iptables does.
                    nft.AppendRule(Output, Nat, "oifname", "lo", "meta l4proto tcp", "tcp dport", "!=", "53", match, "!=", id, "return");
                }
                else
                {
                    nft.AppendRule(Output, Nat, "oifname", "lo", match, "!=", id, "return");
                }
            }

            nft.AppendRule(Output, Nat, match, id, "return");
        }

        var (except, groups) = IstioIptablesRules.OwnerGroupFilter(cfg);
        if (except)
        {
            foreach (var group in groups)
            {
                nft.AppendRule(Output, Nat, "skgid", group, "return");
            }
        }
        else
        {
            nft.AppendRule(Output, Nat, [.. groups.SelectMany(g => new[] { "skgid", "!=", g }), "return"]);
        }

        if (redirectDns)
        {
            SetupDnsRedirect(nft, cfg);
        }

        nft.AppendRule(Output, Nat, "ip daddr", loopback, "return");
        nft.AppendV6RuleIfSupported(Output, Nat, "ip6 daddr", "::1/128", "return");

        foreach (var cidr in v4Exclude.Cidrs)
        {
            nft.AppendRule(Output, Nat, "ip daddr", cidr, "return");
        }

        foreach (var cidr in v6Exclude.Cidrs)
        {
            nft.AppendV6RuleIfSupported(Output, Nat, "ip6 daddr", cidr, "return");
        }

        foreach (var port in IptablesOptions.Split(cfg.OutboundPortsInclude))
        {
            nft.AppendRule(Output, Nat, "tcp dport", port, "jump", Redirect);
        }

        if (v4Include.IsWildcard || v6Include.IsWildcard)
        {
            nft.AppendRule(Output, Nat, "jump", Redirect);
            foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
            {
                nft.InsertRule("prerouting", Nat, 0, "iifname", iface, "jump", Redirect);
            }
        }
        else
        {
            foreach (var cidr in v4Include.Cidrs)
            {
                foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
                {
                    nft.InsertRule("prerouting", Nat, 0, "iifname", iface, "ip daddr", cidr, "jump", Redirect);
                }

                nft.AppendRule(Output, Nat, "ip daddr", cidr, "jump", Redirect);
            }

            foreach (var cidr in v6Include.Cidrs)
            {
                foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
                {
                    nft.InsertV6RuleIfSupported("prerouting", Nat, 0, "iifname", iface, "ip6 daddr", cidr, "jump", Redirect);
                }

                nft.AppendV6RuleIfSupported(Output, Nat, "ip6 daddr", cidr, "jump", Redirect);
            }
        }

        if (cfg.IsTproxy)
        {
            string mark = cfg.InboundTProxyMark;
            string outboundMark = IstioIptablesRules.OutboundMark;
            nft.AppendRule("prerouting", Mangle, "meta l4proto tcp", "mark", mark, "ct mark set mark");
            nft.AppendRule("output", Mangle, "oifname", "lo", "meta l4proto tcp", "mark", mark, "return");
            foreach (var (match, id) in IptablesOptions.Split(cfg.ProxyUid).Select(u => ("skuid", u))
                         .Concat(IptablesOptions.Split(cfg.ProxyGid).Select(g => ("skgid", g))))
            {
                nft.AppendRule("output", Mangle, "oifname", "lo", "meta l4proto tcp", "ip daddr", "!=", loopback, match, id, "meta mark set", outboundMark);
                nft.AppendV6RuleIfSupported("output", Mangle, "oifname", "lo", "meta l4proto tcp", "ip6 daddr", "!=", "::1/128", match, id, "meta mark set", outboundMark);
            }

            nft.AppendRule("output", Mangle, "meta l4proto tcp", "ct", "mark", mark, "meta mark set", "ct", "mark");
            nft.InsertRule(Inbound, Mangle, 0, "meta l4proto tcp", "mark", mark, "return");
            nft.InsertRule(Inbound, Mangle, 1, "iifname", "lo", "meta l4proto tcp", "ip saddr", "127.0.0.6/32", "return");
            nft.InsertV6RuleIfSupported(Inbound, Mangle, 1, "iifname", "lo", "meta l4proto tcp", "ip6 saddr", "::6/128", "return");
            nft.InsertRule(Inbound, Mangle, 2, "iifname", "lo", "meta l4proto tcp", "mark", "!=", outboundMark, "return");
        }

        return nft;
    }

    private static void HandleInbound(NftablesRuleSet nft, IptablesOptions cfg)
    {
        if (cfg.InboundPortsInclude.Length == 0)
        {
            return;
        }

        string table = Nat;
        if (cfg.IsTproxy)
        {
            nft.AppendRule(Divert, Mangle, "meta mark set", cfg.InboundTProxyMark);
            nft.AppendRule(Divert, Mangle, "accept");
            nft.AppendRule(Tproxy, Mangle, "meta l4proto tcp", "ip daddr", "!=", cfg.HostIPv4LoopbackCidr,
                "tproxy ip to", ":" + cfg.InboundCapturePort, "meta mark set", cfg.InboundTProxyMark, "accept");
            nft.AppendV6RuleIfSupported(Tproxy, Mangle, "meta l4proto tcp", "ip6 daddr", "!=", "::1/128",
                "tproxy ip6 to", ":" + cfg.InboundCapturePort, "meta mark set", cfg.InboundTProxyMark, "accept");
            table = Mangle;
        }

        nft.AppendRule("prerouting", table, "meta l4proto tcp", "jump", Inbound);

        if (cfg.InboundPortsInclude == "*")
        {
            foreach (var port in IptablesOptions.Split(cfg.InboundPortsExclude))
            {
                nft.AppendRule(Inbound, table, "meta l4proto tcp", "tcp dport", port, "return");
            }

            if (cfg.IsTproxy)
            {
                nft.AppendRule(Inbound, Mangle, "meta l4proto tcp", "ct state", "related,established", "jump", Divert);
                nft.AppendRule(Inbound, Mangle, "meta l4proto tcp", "jump", Tproxy);
            }
            else
            {
                nft.AppendRule(Inbound, Nat, "meta l4proto tcp", "jump", InRedirect);
            }
        }
        else
        {
            foreach (var port in IptablesOptions.Split(cfg.InboundPortsInclude))
            {
                if (cfg.IsTproxy)
                {
                    nft.AppendRule(Inbound, Mangle, "meta l4proto tcp", "ct state", "related,established", "tcp dport", port, "jump", Divert);
                    nft.AppendRule(Inbound, Mangle, "meta l4proto tcp", "tcp dport", port, "jump", Tproxy);
                }
                else
                {
                    nft.AppendRule(Inbound, Nat, "meta l4proto tcp", "tcp dport", port, "jump", InRedirect);
                }
            }
        }
    }

    private static void SetupDnsRedirect(NftablesRuleSet nft, IptablesOptions cfg)
    {
        nft.AppendRule("output", Raw, "jump", OutputDns);
        nft.AppendRule(Output, Nat, "jump", OutputDns);

        if (cfg.CaptureAllDns)
        {
            nft.AppendRule(OutputDns, Nat, "meta l4proto tcp", "tcp dport", "53", "redirect", "to", ":" + Dns);
            nft.AppendRule(OutputDns, Nat, "udp dport", "53", "redirect", "to", ":" + Dns);
        }
        else
        {
            foreach (var s in cfg.DnsServersV4)
            {
                nft.AppendRule(OutputDns, Nat, "ip daddr", s + "/32", "tcp dport", "53", "redirect", "to", ":" + Dns);
            }

            foreach (var s in cfg.DnsServersV6)
            {
                nft.AppendV6RuleIfSupported(OutputDns, Nat, "ip6 daddr", s + "/128", "tcp dport", "53", "redirect", "to", ":" + Dns);
            }

            foreach (var s in cfg.DnsServersV4)
            {
                nft.AppendRule(OutputDns, Nat, "ip daddr", s + "/32", "udp dport", "53", "redirect", "to", ":" + Dns);
            }

            foreach (var s in cfg.DnsServersV6)
            {
                nft.AppendV6RuleIfSupported(OutputDns, Nat, "ip6 daddr", s + "/128", "udp dport", "53", "redirect", "to", ":" + Dns);
            }
        }

        foreach (var (match, id) in IptablesOptions.Split(cfg.ProxyUid).Select(u => ("skuid", u))
                     .Concat(IptablesOptions.Split(cfg.ProxyGid).Select(g => ("skgid", g))))
        {
            nft.AppendRule(OutputDns, Raw, "udp dport", "53", "meta", match, id, "ct", "zone", "set", "1");
            nft.AppendRule(OutputDns, Raw, "udp sport", Dns, "meta", match, id, "ct", "zone", "set", "2");
        }

        if (cfg.CaptureAllDns)
        {
            nft.AppendRule("prerouting", Raw, "jump", Inbound);
            nft.AppendRule(OutputDns, Raw, "udp dport", "53", "ct", "zone", "set", "2");
            nft.AppendRule(Inbound, Raw, "udp sport", "53", "ct", "zone", "set", "1");
            return;
        }

        if (cfg.DnsServersV4.Count != 0 || cfg.DnsServersV6.Count != 0)
        {
            nft.AppendRule("prerouting", Raw, "jump", Inbound);
        }

        foreach (var s in cfg.DnsServersV4)
        {
            nft.AppendRule(OutputDns, Raw, "udp dport", "53", "ip daddr", s + "/32", "ct", "zone", "set", "2");
            // Replies come *from* the resolver: match the source (Istio's nft code matches daddr here).
            nft.AppendRule(Inbound, Raw, "udp sport", "53", "ip saddr", s + "/32", "ct", "zone", "set", "1");
        }

        foreach (var s in cfg.DnsServersV6)
        {
            nft.AppendV6RuleIfSupported(OutputDns, Raw, "udp dport", "53", "ip6 daddr", s + "/128", "ct", "zone", "set", "2");
            nft.AppendV6RuleIfSupported(Inbound, Raw, "udp sport", "53", "ip6 saddr", s + "/128", "ct", "zone", "set", "1");
        }
    }
}
