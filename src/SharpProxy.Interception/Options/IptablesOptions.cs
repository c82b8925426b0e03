namespace SharpProxy.Interception.Options;

/// <summary>Which kernel interface the rules are written for.</summary>
internal enum CaptureBackend
{
    /// <summary><c>iptables-restore</c>, legacy or nf_tables variant chosen as Istio does.</summary>
    Iptables,

    /// <summary>Native <c>nft -f</c> script in <c>inet istio-proxy-*</c> tables (Istio's <c>--native-nftables</c>).</summary>
    Nftables,
}

/// <summary>
/// The configuration of one <c>sharpproxy iptables</c> run. Field names and defaults follow istio-iptables'
/// <c>config.Config</c> (tools/common/config/config.go). List values are kept as Istio keeps them: the comma
/// separated string (already validated and normalised), split again with <see cref="Split"/> where used.
/// </summary>
internal sealed class IptablesOptions
{
    public const string DefaultProxyUid = "1337";

    public string ProxyPort { get; set; } = "15001";
    public string InboundCapturePort { get; set; } = "15006";
    public string InboundTunnelPort { get; set; } = "15008";

    /// <summary>Comma list; empty until resolved from <c>ENVOY_USER</c> (else 1337).</summary>
    public string ProxyUid { get; set; } = "";

    /// <summary>Comma list; empty means "same as <see cref="ProxyUid"/>".</summary>
    public string ProxyGid { get; set; } = "";

    /// <summary><c>""</c> (treated as REDIRECT), <c>REDIRECT</c> or <c>TPROXY</c>.</summary>
    public string InboundInterceptionMode { get; set; } = "";

    public string InboundTProxyMark { get; set; } = "1337";
    public string InboundTProxyRouteTable { get; set; } = "133";

    /// <summary><c>-b</c>: <c>*</c>, a port list, or empty (no inbound capture).</summary>
    public string InboundPortsInclude { get; set; } = "";

    /// <summary><c>-d</c>: ports excluded from inbound capture; only used with <c>-b '*'</c>.</summary>
    public string InboundPortsExclude { get; set; } = "";

    public string OwnerGroupsInclude { get; set; } = "*";
    public string OwnerGroupsExclude { get; set; } = "";

    /// <summary><c>-q</c>: outbound TCP ports always redirected.</summary>
    public string OutboundPortsInclude { get; set; } = "";

    /// <summary><c>-o</c>: outbound ports (TCP and UDP) never redirected.</summary>
    public string OutboundPortsExclude { get; set; } = "";

    /// <summary><c>-i</c>: <c>*</c>, a CIDR list, or empty (no outbound capture).</summary>
    public string OutboundIPRangesInclude { get; set; } = "";

    /// <summary><c>-x</c>: CIDRs excluded from outbound capture.</summary>
    public string OutboundIPRangesExclude { get; set; } = "";

    /// <summary><c>-k</c>: KubeVirt interfaces whose inbound traffic is treated as outbound.</summary>
    public string RerouteVirtualInterfaces { get; set; } = "";

    /// <summary><c>-c</c>: interfaces skipped in both directions.</summary>
    public string ExcludeInterfaces { get; set; } = "";

    public ushort IptablesProbePort { get; set; } = 15002;
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public bool DryRun { get; set; }
    public bool SkipRuleApply { get; set; }
    public bool RunValidation { get; set; }
    public bool RedirectDns { get; set; }
    public bool DropInvalid { get; set; }
    public bool CaptureAllDns { get; set; }
    public bool DualStack { get; set; }
    public bool CniMode { get; set; }
    public bool Reconcile { get; set; }
    public bool CleanupOnly { get; set; }
    public bool ForceApply { get; set; }

    /// <summary>
    /// SharpProxy extension (<c>-6</c>/<c>--enable-ipv6</c>): <c>null</c> means "detect as Istio does" (the first
    /// non-loopback, non-link-local address decides), otherwise the explicit choice.
    /// </summary>
    public bool? EnableIPv6Override { get; set; }

    /// <summary>Whether IPv6 rules are generated; resolved before rule generation.</summary>
    public bool EnableIPv6 { get; set; }

    public IReadOnlyList<string> DnsServersV4 { get; set; } = [];
    public IReadOnlyList<string> DnsServersV6 { get; set; } = [];

    /// <summary>Path of a network namespace (e.g. <c>/var/run/netns/pod</c>) to program instead of our own.</summary>
    public string NetworkNamespace { get; set; } = "";

    public string HostIPv4LoopbackCidr { get; set; } = "127.0.0.1/32";

    /// <summary>The backend used; resolved from <see cref="BackendChoice"/> and <see cref="NativeNftables"/>.</summary>
    public CaptureBackend Backend { get; set; } = CaptureBackend.Iptables;

    /// <summary>SharpProxy's <c>--backend</c>, when given.</summary>
    public CaptureBackend? BackendChoice { get; set; }

    /// <summary>Istio's <c>--native-nftables</c> / <c>NATIVE_NFTABLES</c>.</summary>
    public bool NativeNftables { get; set; }

    /// <summary><c>""</c> (detect), <c>legacy</c> or <c>nft</c>.</summary>
    public string ForceIptablesBinary { get; set; } = "";

    public bool IsTproxy => InboundInterceptionMode == "TPROXY";

    /// <summary>Istio's <c>config.Split</c>: comma split, empty items dropped, order kept.</summary>
    public static IReadOnlyList<string> Split(string value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return [];
        }

        return value.Split(',', StringSplitOptions.RemoveEmptyEntries);
    }

    public IptablesOptions Clone() => (IptablesOptions)MemberwiseClone();
}
