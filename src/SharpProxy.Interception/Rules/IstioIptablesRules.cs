using SharpProxy.Interception.Options;

namespace SharpProxy.Interception.Rules;

/// <summary>
/// Generates the sidecar capture rules in the same order as istio-iptables' <c>IptablesConfigurator.Run</c>
/// (tools/istio-iptables/pkg/capture/run.go): interface exclusions, KubeVirt interfaces, invalid-drop, the
/// ISTIO_INBOUND / ISTIO_REDIRECT / ISTIO_IN_REDIRECT chains, inbound capture, ISTIO_OUTPUT with the proxy owner
/// exemptions and the 127.0.0.6 loopback rules, DNS capture, loopback/CIDR exclusions and inclusions, and the TPROXY
/// mangle rules.
/// </summary>
internal static class IstioIptablesRules
{
    public const string IstioInbound = "ISTIO_INBOUND";
    public const string IstioRedirect = "ISTIO_REDIRECT";
    public const string IstioInRedirect = "ISTIO_IN_REDIRECT";
    public const string IstioOutput = "ISTIO_OUTPUT";
    public const string IstioOutputDns = "ISTIO_OUTPUT_DNS";
    public const string IstioDivert = "ISTIO_DIVERT";
    public const string IstioTproxy = "ISTIO_TPROXY";
    public const string IstioDrop = "ISTIO_DROP";

    /// <summary>TPROXY: mark of Envoy's outbound connections to the workload by pod IP.</summary>
    public const string OutboundMark = "1338";

    public const string AgentDnsListenerPort = "15053";

    private const string Nat = "nat";
    private const string Mangle = "mangle";
    private const string Raw = "raw";
    private const string V = IptablesRuleSet.IPVersionSpecific;

    /// <exception cref="OptionException">The include/exclude CIDR combination is not usable.</exception>
    public static IptablesRuleSet Build(IptablesOptions cfg)
    {
        var rb = new IptablesRuleSet(cfg.EnableIPv6);

        var (v4Exclude, v6Exclude) = NetworkRange.Separate(cfg.OutboundIPRangesExclude);
        if (v4Exclude.IsWildcard)
        {
            throw new OptionException("invalid value for OUTBOUND_IP_RANGES_EXCLUDE (-x): '*' is not allowed");
        }

        var (v4Include, v6Include) = NetworkRange.Separate(cfg.OutboundIPRangesInclude);

        bool redirectDns = cfg.RedirectDns;
        if (redirectDns && !cfg.CaptureAllDns && cfg.DnsServersV4.Count == 0 && cfg.DnsServersV6.Count == 0)
        {
            // run.go: "REDIRECT_DNS is set, but CAPTURE_ALL_DNS is false, and no DNS servers provided. DNS capture disabled."
            redirectDns = false;
        }

        ShortCircuitExcludeInterfaces(rb, cfg);

        foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
        {
            rb.InsertRule("PREROUTING", Nat, 1, "-i", iface, "-j", "RETURN");
        }

        if (cfg.DropInvalid)
        {
            rb.AppendRule("PREROUTING", Mangle, "-m", "conntrack", "--ctstate", "INVALID", "-j", IstioDrop);
            rb.AppendRule(IstioDrop, Mangle, "-j", "DROP");
        }

        rb.AppendRule(IstioInbound, Nat, "-p", "tcp", "--dport", cfg.InboundTunnelPort, "-j", "RETURN");
        rb.AppendRule(IstioRedirect, Nat, "-p", "tcp", "-j", "REDIRECT", "--to-ports", cfg.ProxyPort);
        rb.AppendRule(IstioInRedirect, Nat, "-p", "tcp", "-j", "REDIRECT", "--to-ports", cfg.InboundCapturePort);

        HandleInboundPortsInclude(rb, cfg);

        // No "-p tcp" since istio/istio#53998: UDP is handled (or not) inside ISTIO_OUTPUT.
        rb.AppendRule("OUTPUT", Nat, "-j", IstioOutput);

        foreach (var port in IptablesOptions.Split(cfg.OutboundPortsExclude))
        {
            rb.AppendRule(IstioOutput, Nat, "-p", "tcp", "--dport", port, "-j", "RETURN");
            rb.AppendRule(IstioOutput, Nat, "-p", "udp", "--dport", port, "-j", "RETURN");
        }

        // 127.0.0.6 / ::6 is the bind address of Envoy's inbound passthrough cluster.
        rb.AppendVersionedRule("127.0.0.6/32", "::6/128", IstioOutput, Nat, "-o", "lo", "-s", V, "-j", "RETURN");

        bool loopbackIncluded = v4Include.HasLoopbackIP || v6Include.HasLoopbackIP;
        foreach (var uid in IptablesOptions.Split(cfg.ProxyUid))
        {
            if (redirectDns)
            {
                rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", IstioOutput, Nat,
                    "-o", "lo", "!", "-d", V, "-p", "tcp", "-m", "multiport", "!", "--dports", "53," + cfg.InboundTunnelPort,
                    "-m", "owner", "--uid-owner", uid, "-j", IstioInRedirect);
            }
            else
            {
                rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", IstioOutput, Nat,
                    "-o", "lo", "!", "-d", V, "-p", "tcp", "!", "--dport", cfg.InboundTunnelPort,
                    "-m", "owner", "--uid-owner", uid, "-j", IstioInRedirect);
            }

            if (!loopbackIncluded)
            {
                if (redirectDns)
                {
                    rb.AppendRule(IstioOutput, Nat, "-o", "lo", "-p", "tcp", "!", "--dport", "53",
                        "-m", "owner", "!", "--uid-owner", uid, "-j", "RETURN");
                }
                else
                {
                    rb.AppendRule(IstioOutput, Nat, "-o", "lo", "-m", "owner", "!", "--uid-owner", uid, "-j", "RETURN");
                }
            }

            rb.AppendRule(IstioOutput, Nat, "-m", "owner", "--uid-owner", uid, "-j", "RETURN");
        }

        foreach (var gid in IptablesOptions.Split(cfg.ProxyGid))
        {
            // Istio quirk kept: the GID rule never lists port 53, even with DNS capture.
            rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", IstioOutput, Nat,
                "-o", "lo", "!", "-d", V, "-p", "tcp", "!", "--dport", cfg.InboundTunnelPort,
                "-m", "owner", "--gid-owner", gid, "-j", IstioInRedirect);

            if (!loopbackIncluded)
            {
                if (redirectDns)
                {
                    rb.AppendRule(IstioOutput, Nat, "-o", "lo", "-p", "tcp", "!", "--dport", "53",
                        "-m", "owner", "!", "--gid-owner", gid, "-j", "RETURN");
                }
                else
                {
                    rb.AppendRule(IstioOutput, Nat, "-o", "lo", "-m", "owner", "!", "--gid-owner", gid, "-j", "RETURN");
                }
            }

            rb.AppendRule(IstioOutput, Nat, "-m", "owner", "--gid-owner", gid, "-j", "RETURN");
        }

        var (except, groups) = OwnerGroupFilter(cfg);
        if (except)
        {
            foreach (var group in groups)
            {
                rb.AppendRule(IstioOutput, Nat, "-m", "owner", "--gid-owner", group, "-j", "RETURN");
            }
        }
        else
        {
            var parameters = new List<string>();
            foreach (var group in groups)
            {
                parameters.AddRange(["-m", "owner", "!", "--gid-owner", group]);
            }

            parameters.AddRange(["-j", "RETURN"]);
            rb.AppendRule(IstioOutput, Nat, [.. parameters]);
        }

        if (redirectDns)
        {
            SetupDnsRedirect(rb, cfg);
        }

        // Envoy-aware applications and container-to-container traffic use localhost explicitly.
        rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", IstioOutput, Nat, "-d", V, "-j", "RETURN");

        foreach (var cidr in v4Exclude.Cidrs)
        {
            rb.AppendRuleV4(IstioOutput, Nat, "-d", cidr, "-j", "RETURN");
        }

        foreach (var cidr in v6Exclude.Cidrs)
        {
            rb.AppendRuleV6(IstioOutput, Nat, "-d", cidr, "-j", "RETURN");
        }

        foreach (var port in IptablesOptions.Split(cfg.OutboundPortsInclude))
        {
            rb.AppendRule(IstioOutput, Nat, "-p", "tcp", "--dport", port, "-j", IstioRedirect);
        }

        HandleOutboundInclude(cfg, v4Include, rb.AppendRuleV4, rb.InsertRuleV4);
        HandleOutboundInclude(cfg, v6Include, rb.AppendRuleV6, rb.InsertRuleV6);

        if (cfg.IsTproxy)
        {
            AddTproxyMangleRules(rb, cfg);
        }

        return rb;
    }

    /// <summary>Istio's <c>ParseInterceptFilter</c>: <c>*</c> means "all except the exclude list".</summary>
    public static (bool Except, IReadOnlyList<string> Values) OwnerGroupFilter(IptablesOptions cfg) =>
        cfg.OwnerGroupsInclude == "*"
            ? (true, IptablesOptions.Split(cfg.OwnerGroupsExclude))
            : (false, IptablesOptions.Split(cfg.OwnerGroupsInclude));

    private static void ShortCircuitExcludeInterfaces(IptablesRuleSet rb, IptablesOptions cfg)
    {
        foreach (var iface in IptablesOptions.Split(cfg.ExcludeInterfaces))
        {
            rb.AppendRule("PREROUTING", Nat, "-i", iface, "-j", "RETURN");
            rb.AppendRule("OUTPUT", Nat, "-o", iface, "-j", "RETURN");
        }

        if (cfg.IsTproxy)
        {
            foreach (var iface in IptablesOptions.Split(cfg.ExcludeInterfaces))
            {
                rb.AppendRule("PREROUTING", Mangle, "-i", iface, "-j", "RETURN");
                rb.AppendRule("OUTPUT", Mangle, "-o", iface, "-j", "RETURN");
            }
        }
    }

    private static void HandleInboundPortsInclude(IptablesRuleSet rb, IptablesOptions cfg)
    {
        if (cfg.InboundPortsInclude.Length == 0)
        {
            return;
        }

        string table;
        if (cfg.IsTproxy)
        {
            // Packets marked here are routed to lo by the policy route (fwmark -> table), then TPROXY'd to Envoy.
            rb.AppendRule(IstioDivert, Mangle, "-j", "MARK", "--set-mark", cfg.InboundTProxyMark);
            rb.AppendRule(IstioDivert, Mangle, "-j", "ACCEPT");
            rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", IstioTproxy, Mangle,
                "!", "-d", V, "-p", "tcp", "-j", "TPROXY",
                "--tproxy-mark", cfg.InboundTProxyMark + "/0xffffffff", "--on-port", cfg.InboundCapturePort);
            table = Mangle;
        }
        else
        {
            table = Nat;
        }

        rb.AppendRule("PREROUTING", table, "-p", "tcp", "-j", IstioInbound);

        if (cfg.InboundPortsInclude == "*")
        {
            foreach (var port in IptablesOptions.Split(cfg.InboundPortsExclude))
            {
                rb.AppendRule(IstioInbound, table, "-p", "tcp", "--dport", port, "-j", "RETURN");
            }

            if (cfg.IsTproxy)
            {
                rb.AppendRule(IstioInbound, Mangle, "-p", "tcp", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", IstioDivert);
                rb.AppendRule(IstioInbound, Mangle, "-p", "tcp", "-j", IstioTproxy);
            }
            else
            {
                rb.AppendRule(IstioInbound, Nat, "-p", "tcp", "-j", IstioInRedirect);
            }
        }
        else
        {
            foreach (var port in IptablesOptions.Split(cfg.InboundPortsInclude))
            {
                if (cfg.IsTproxy)
                {
                    rb.AppendRule(IstioInbound, Mangle, "-p", "tcp", "--dport", port,
                        "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", IstioDivert);
                    rb.AppendRule(IstioInbound, Mangle, "-p", "tcp", "--dport", port, "-j", IstioTproxy);
                }
                else
                {
                    rb.AppendRule(IstioInbound, Nat, "-p", "tcp", "--dport", port, "-j", IstioInRedirect);
                }
            }
        }
    }

    private static void HandleOutboundInclude(
        IptablesOptions cfg,
        NetworkRange include,
        Action<string, string, string[]> append,
        Action<string, string, int, string[]> insert)
    {
        if (include.IsWildcard)
        {
            append(IstioOutput, Nat, ["-j", IstioRedirect]);
            foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
            {
                insert("PREROUTING", Nat, 1, ["-i", iface, "-j", IstioRedirect]);
            }
        }
        else
        {
            foreach (var cidr in include.Cidrs)
            {
                foreach (var iface in IptablesOptions.Split(cfg.RerouteVirtualInterfaces))
                {
                    insert("PREROUTING", Nat, 1, ["-i", iface, "-d", cidr, "-j", IstioRedirect]);
                }

                append(IstioOutput, Nat, ["-d", cidr, "-j", IstioRedirect]);
            }
        }
    }

    private static void SetupDnsRedirect(IptablesRuleSet rb, IptablesOptions cfg)
    {
        rb.AppendRule("OUTPUT", Raw, "-j", IstioOutputDns);

        if (cfg.CaptureAllDns || cfg.DnsServersV4.Count > 0)
        {
            rb.AppendRuleV4(IstioOutput, Nat, "-j", IstioOutputDns);
        }

        if (cfg.CaptureAllDns || cfg.DnsServersV6.Count > 0)
        {
            rb.AppendRuleV6(IstioOutput, Nat, "-j", IstioOutputDns);
        }

        if (cfg.CaptureAllDns)
        {
            rb.AppendRule(IstioOutputDns, Nat, "-p", "tcp", "--dport", "53", "-j", "REDIRECT", "--to-ports", AgentDnsListenerPort);
        }
        else
        {
            foreach (var s in cfg.DnsServersV4)
            {
                rb.AppendRuleV4(IstioOutputDns, Nat, "-p", "tcp", "--dport", "53", "-d", s + "/32",
                    "-j", "REDIRECT", "--to-ports", AgentDnsListenerPort);
            }

            foreach (var s in cfg.DnsServersV6)
            {
                rb.AppendRuleV6(IstioOutputDns, Nat, "-p", "tcp", "--dport", "53", "-d", s + "/128",
                    "-j", "REDIRECT", "--to-ports", AgentDnsListenerPort);
            }
        }

        if (cfg.CaptureAllDns)
        {
            rb.AppendRule(IstioOutputDns, Nat, "-p", "udp", "--dport", "53", "-j", "REDIRECT", "--to-port", AgentDnsListenerPort);
        }
        else
        {
            foreach (var s in cfg.DnsServersV4)
            {
                rb.AppendRuleV4(IstioOutputDns, Nat, "-p", "udp", "--dport", "53", "-d", s + "/32",
                    "-j", "REDIRECT", "--to-port", AgentDnsListenerPort);
            }

            foreach (var s in cfg.DnsServersV6)
            {
                rb.AppendRuleV6(IstioOutputDns, Nat, "-p", "udp", "--dport", "53", "-d", s + "/128",
                    "-j", "REDIRECT", "--to-port", AgentDnsListenerPort);
            }
        }

        AddDnsConntrackZones(rb, cfg);
    }

    /// <summary>Proxy-to-resolver DNS in conntrack zone 1, client-to-proxy DNS in zone 2 (UDP conntrack races).</summary>
    private static void AddDnsConntrackZones(IptablesRuleSet rb, IptablesOptions cfg)
    {
        foreach (var uid in IptablesOptions.Split(cfg.ProxyUid))
        {
            rb.AppendRule(IstioOutputDns, Raw, "-p", "udp", "--dport", "53", "-m", "owner", "--uid-owner", uid, "-j", "CT", "--zone", "1");
            rb.AppendRule(IstioOutputDns, Raw, "-p", "udp", "--sport", AgentDnsListenerPort, "-m", "owner", "--uid-owner", uid, "-j", "CT", "--zone", "2");
        }

        foreach (var gid in IptablesOptions.Split(cfg.ProxyGid))
        {
            rb.AppendRule(IstioOutputDns, Raw, "-p", "udp", "--dport", "53", "-m", "owner", "--gid-owner", gid, "-j", "CT", "--zone", "1");
            rb.AppendRule(IstioOutputDns, Raw, "-p", "udp", "--sport", AgentDnsListenerPort, "-m", "owner", "--gid-owner", gid, "-j", "CT", "--zone", "2");
        }

        if (cfg.CaptureAllDns)
        {
            rb.AppendRule("PREROUTING", Raw, "-j", IstioInbound);
            rb.AppendRule(IstioOutputDns, Raw, "-p", "udp", "--dport", "53", "-j", "CT", "--zone", "2");
            rb.AppendRule(IstioInbound, Raw, "-p", "udp", "--sport", "53", "-j", "CT", "--zone", "1");
            return;
        }

        if (cfg.DnsServersV4.Count != 0)
        {
            rb.AppendRuleV4("PREROUTING", Raw, "-j", IstioInbound);
        }

        foreach (var s in cfg.DnsServersV4)
        {
            rb.AppendRuleV4(IstioOutputDns, Raw, "-p", "udp", "--dport", "53", "-d", s + "/32", "-j", "CT", "--zone", "2");
            rb.AppendRuleV4(IstioInbound, Raw, "-p", "udp", "--sport", "53", "-s", s + "/32", "-j", "CT", "--zone", "1");
        }

        if (cfg.DnsServersV6.Count != 0)
        {
            rb.AppendRuleV6("PREROUTING", Raw, "-j", IstioInbound);
        }

        foreach (var s in cfg.DnsServersV6)
        {
            rb.AppendRuleV6(IstioOutputDns, Raw, "-p", "udp", "--dport", "53", "-d", s + "/128", "-j", "CT", "--zone", "2");
            rb.AppendRuleV6(IstioInbound, Raw, "-p", "udp", "--sport", "53", "-s", s + "/128", "-j", "CT", "--zone", "1");
        }
    }

    private static void AddTproxyMangleRules(IptablesRuleSet rb, IptablesOptions cfg)
    {
        // Save the mark set by Envoy's original_src listener filter as the connection mark.
        rb.AppendRule("PREROUTING", Mangle, "-p", "tcp", "-m", "mark", "--mark", cfg.InboundTProxyMark, "-j", "CONNMARK", "--save-mark");
        // Already marked (Envoy -> app): do not mark again.
        rb.AppendRule("OUTPUT", Mangle, "-p", "tcp", "-o", "lo", "-m", "mark", "--mark", cfg.InboundTProxyMark, "-j", "RETURN");
        foreach (var uid in IptablesOptions.Split(cfg.ProxyUid))
        {
            rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", "OUTPUT", Mangle,
                "!", "-d", V, "-p", "tcp", "-o", "lo", "-m", "owner", "--uid-owner", uid, "-j", "MARK", "--set-mark", OutboundMark);
        }

        foreach (var gid in IptablesOptions.Split(cfg.ProxyGid))
        {
            rb.AppendVersionedRule(cfg.HostIPv4LoopbackCidr, "::1/128", "OUTPUT", Mangle,
                "!", "-d", V, "-p", "tcp", "-o", "lo", "-m", "owner", "--gid-owner", gid, "-j", "MARK", "--set-mark", OutboundMark);
        }

        // Workload replies follow the TPROXY policy route.
        rb.AppendRule("OUTPUT", Mangle, "-p", "tcp", "-m", "connmark", "--mark", cfg.InboundTProxyMark, "-j", "CONNMARK", "--restore-mark");
        // Prevent infinite redirects, and traffic from Envoy/agent (127.0.0.6) or app-to-self by pod IP being captured.
        rb.InsertRule(IstioInbound, Mangle, 1, "-p", "tcp", "-m", "mark", "--mark", cfg.InboundTProxyMark, "-j", "RETURN");
        rb.InsertRuleV4(IstioInbound, Mangle, 2, "-p", "tcp", "-s", "127.0.0.6/32", "-i", "lo", "-j", "RETURN");
        rb.InsertRuleV6(IstioInbound, Mangle, 2, "-p", "tcp", "-s", "::6/128", "-i", "lo", "-j", "RETURN");
        rb.InsertRule(IstioInbound, Mangle, 3, "-p", "tcp", "-i", "lo", "-m", "mark", "!", "--mark", OutboundMark, "-j", "RETURN");
    }
}
