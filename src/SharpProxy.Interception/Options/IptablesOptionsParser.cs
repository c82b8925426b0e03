using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpProxy.Interception.Options;

/// <summary>A flag or environment value that cannot be used. The message names the flag (and the variable).</summary>
internal sealed class OptionException(string message) : Exception(message);

/// <summary>
/// Parses istio-iptables' command line (tools/istio-iptables/pkg/cmd/root.go) and the environment variables it
/// binds: defaults, then environment, then flags (flags win, as in Istio). Values are validated here, so a bad
/// value never reaches rule generation: the caller exits with code 2 and changes nothing.
/// </summary>
internal static partial class IptablesOptionsParser
{
    private enum Kind
    {
        Value,
        Bool,
        OptionalBool,
    }

    private sealed record Flag(
        string Long,
        char? Short,
        Kind Kind,
        string[] EnvVars,
        string Help,
        Action<IptablesOptions, string> Set);

    /// <summary>istio's logging flags (pkg/log) that the injector passes; accepted and ignored.</summary>
    private static readonly HashSet<string> IgnoredValueFlags = new(StringComparer.Ordinal)
    {
        "log_output_level", "log_stacktrace_level", "log_target", "log_caller", "log_rotate",
        "log_rotate_max_age", "log_rotate_max_size", "log_rotate_max_backups",
    };

    private static readonly HashSet<string> IgnoredBoolFlags = new(StringComparer.Ordinal) { "log_as_json" };

    private static readonly Flag[] Flags =
    [
        new("envoy-port", 'p', Kind.Value, [], "Envoy port to which all outbound TCP traffic is redirected (default 15001)",
            (o, v) => o.ProxyPort = Port(v)),
        new("inbound-capture-port", 'z', Kind.Value, ["INBOUND_CAPTURE_PORT"], "Port to which all inbound TCP traffic is redirected (default 15006)",
            (o, v) => o.InboundCapturePort = Port(v)),
        new("inbound-tunnel-port", 'e', Kind.Value, ["INBOUND_TUNNEL_PORT"], "HBONE tunnel port, never captured (default 15008)",
            (o, v) => o.InboundTunnelPort = Port(v)),
        new("proxy-uid", 'u', Kind.Value, ["PROXY_UID"], "Comma separated UIDs whose traffic is not redirected (default: uid of $ENVOY_USER, else 1337)",
            (o, v) => o.ProxyUid = IdList(v, "user")),
        new("proxy-gid", 'g', Kind.Value, ["PROXY_GID"], "Comma separated GIDs whose traffic is not redirected (default: same as -u)",
            (o, v) => o.ProxyGid = IdList(v, "group")),
        new("istio-inbound-interception-mode", 'm', Kind.Value, ["ISTIO_INBOUND_INTERCEPTION_MODE"], "Inbound interception mode: REDIRECT or TPROXY",
            (o, v) => o.InboundInterceptionMode = Mode(v)),
        new("istio-inbound-ports", 'b', Kind.Value, ["ISTIO_INBOUND_PORTS"], "Comma separated inbound ports to redirect, '*' for all; empty disables inbound capture",
            (o, v) => o.InboundPortsInclude = PortsOrWildcard(v)),
        new("istio-local-exclude-ports", 'd', Kind.Value, ["ISTIO_LOCAL_EXCLUDE_PORTS"], "Comma separated inbound ports excluded from redirection (only with -b '*')",
            (o, v) => o.InboundPortsExclude = Ports(v)),
        new("istio-exclude-interfaces", 'c', Kind.Value, ["ISTIO_EXCLUDE_INTERFACES"], "Comma separated interfaces whose traffic is never captured",
            (o, v) => o.ExcludeInterfaces = Interfaces(v)),
        new("istio-service-cidr", 'i', Kind.Value, ["ISTIO_SERVICE_CIDR"], "Comma separated outbound CIDRs to redirect, '*' for all; empty disables outbound capture",
            (o, v) => o.OutboundIPRangesInclude = CidrsOrWildcard(v, allowWildcard: true)),
        new("istio-service-exclude-cidr", 'x', Kind.Value, ["ISTIO_SERVICE_EXCLUDE_CIDR"], "Comma separated outbound CIDRs excluded from redirection",
            (o, v) => o.OutboundIPRangesExclude = CidrsOrWildcard(v, allowWildcard: false)),
        new("istio-outbound-ports", 'q', Kind.Value, ["ISTIO_OUTBOUND_PORTS"], "Comma separated outbound TCP ports always redirected",
            (o, v) => o.OutboundPortsInclude = Ports(v)),
        new("istio-local-outbound-ports-exclude", 'o', Kind.Value, ["ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE"], "Comma separated outbound ports excluded from redirection",
            (o, v) => o.OutboundPortsExclude = Ports(v)),
        new("kube-virt-interfaces", 'k', Kind.Value, ["KUBE_VIRT_INTERFACES"], "Comma separated virtual interfaces whose inbound traffic is treated as outbound",
            (o, v) => o.RerouteVirtualInterfaces = Interfaces(v)),
        new("istio-inbound-tproxy-mark", 't', Kind.Value, ["ISTIO_INBOUND_TPROXY_MARK"], "TPROXY packet mark (default 1337)",
            (o, v) => o.InboundTProxyMark = Mark(v)),
        new("istio-inbound-tproxy-route-table", 'r', Kind.Value, ["ISTIO_INBOUND_TPROXY_ROUTE_TABLE"], "TPROXY policy routing table (default 133)",
            (o, v) => o.InboundTProxyRouteTable = RouteTable(v)),
        new("dry-run", 'n', Kind.Bool, ["DRY_RUN"], "Print the rules instead of applying them; nothing is changed",
            (o, v) => o.DryRun = Bool(v)),
        new("iptables-probe-port", null, Kind.Value, ["IPTABLES_PROBE_PORT"], "Port the validation probe dials (default 15002)",
            (o, v) => o.IptablesProbePort = ushort.Parse(Port(v), CultureInfo.InvariantCulture)),
        new("probe-timeout", null, Kind.Value, ["PROBE_TIMEOUT"], "Validation timeout, Go duration syntax (default 5s)",
            (o, v) => o.ProbeTimeout = Duration(v)),
        new("skip-rule-apply", null, Kind.Bool, ["SKIP_RULE_APPLY"], "Do not program any rules",
            (o, v) => o.SkipRuleApply = Bool(v)),
        new("run-validation", null, Kind.Bool, ["RUN_VALIDATION"], "Check that outbound redirection works (exit 126 on failure)",
            (o, v) => o.RunValidation = Bool(v)),
        new("redirect-dns", null, Kind.Bool, ["REDIRECT_DNS", "ISTIO_META_DNS_CAPTURE"], "Redirect DNS to the agent on port 15053",
            (o, v) => o.RedirectDns = Bool(v)),
        new("capture-all-dns", null, Kind.Bool, ["CAPTURE_ALL_DNS"], "Capture all port 53 traffic, not only to the resolv.conf servers",
            (o, v) => o.CaptureAllDns = Bool(v)),
        new("drop-invalid", null, Kind.Bool, ["DROP_INVALID", "INVALID_DROP"], "Drop packets in conntrack state INVALID",
            (o, v) => o.DropInvalid = Bool(v)),
        new("dual-stack", null, Kind.Bool, ["DUAL_STACK", "ISTIO_DUAL_STACK", "ISTIO_AGENT_DUAL_STACK"], "Enable IPv6 rules when the pod also has an IPv6 address",
            (o, v) => o.DualStack = Bool(v)),
        new("network-namespace", null, Kind.Value, ["NETWORK_NAMESPACE"], "Network namespace path to program (default: the current one)",
            (o, v) => o.NetworkNamespace = NamespacePath(v)),
        new("cni-mode", null, Kind.Bool, ["CNI_MODE"], "Accepted for compatibility (Istio's pod-scoped xtables lock)",
            (o, v) => o.CniMode = Bool(v)),
        new("reconcile", null, Kind.Bool, ["RECONCILE"], "Accepted for compatibility; drift is always reconciled in one atomic restore",
            (o, v) => o.Reconcile = Bool(v)),
        new("cleanup-only", null, Kind.Bool, ["CLEANUP_ONLY"], "Only remove the rules, chains and jumps this tool installs",
            (o, v) => o.CleanupOnly = Bool(v)),
        new("force-apply", null, Kind.Bool, ["FORCE_APPLY"], "Re-apply even when the installed rules already match",
            (o, v) => o.ForceApply = Bool(v)),
        new("native-nftables", null, Kind.Bool, ["NATIVE_NFTABLES"], "Use the native nftables backend (same as --backend nftables)",
            (o, v) => o.NativeNftables = Bool(v)),
        new("force-iptables-binary", null, Kind.Value, ["FORCE_IPTABLES_BINARY"], "Force the iptables variant: legacy or nft",
            (o, v) => o.ForceIptablesBinary = IptablesVariant(v)),
        new("backend", null, Kind.Value, [], "SharpProxy: iptables (default; legacy/nft variant detected) or nftables",
            (o, v) => o.BackendChoice = Backend(v)),
        new("enable-ipv6", '6', Kind.OptionalBool, [], "SharpProxy: force IPv6 rules on (or off with =false) instead of detecting from the local addresses",
            (o, v) => o.EnableIPv6Override = Bool(v)),
    ];

    public static string Usage
    {
        get
        {
            var b = new StringBuilder();
            b.AppendLine("Usage: sharpproxy iptables [flags]");
            b.AppendLine();
            b.AppendLine("Sets up (or, with --dry-run, prints) the Istio-compatible traffic capture rules for the sidecar.");
            b.AppendLine("Flags and environment variables follow istio-iptables; flags override the environment.");
            b.AppendLine();
            foreach (var f in Flags)
            {
                var names = f.Short is { } s ? $"-{s}, --{f.Long}" : $"    --{f.Long}";
                if (f.Kind == Kind.Value)
                {
                    names += " string";
                }

                var env = f.EnvVars.Length > 0 ? $" [${string.Join(", $", f.EnvVars)}]" : "";
                b.Append("  ").Append(names.PadRight(48)).Append(f.Help).AppendLine(env);
            }

            b.AppendLine("  -h, --help");
            b.AppendLine();
            b.AppendLine("Environment only: ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR (127.0.0.1/32), ISTIO_OUTBOUND_OWNER_GROUPS (*),");
            b.AppendLine("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE, ENVOY_USER (istio-proxy).");
            return b.ToString();
        }
    }

    /// <summary>Parses <paramref name="args"/> over the environment. Returns null when help was requested.</summary>
    /// <exception cref="OptionException">A flag or value is not usable.</exception>
    public static IptablesOptions? Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var options = new IptablesOptions();
        ApplyEnvironment(options, environment);

        bool nativeOnCommandLine = false;
        bool backendOnCommandLine = false;

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                if (i + 1 < args.Count)
                {
                    throw new OptionException($"unexpected argument \"{args[i + 1]}\": sharpproxy iptables takes only flags");
                }

                break;
            }

            if (arg is "-h" or "--help")
            {
                return null;
            }

            Flag? flag;
            string display;
            string? inline = null;
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                string body = arg[2..];
                int eq = body.IndexOf('=', StringComparison.Ordinal);
                string name = eq >= 0 ? body[..eq] : body;
                inline = eq >= 0 ? body[(eq + 1)..] : null;
                if (IgnoredValueFlags.Contains(name))
                {
                    if (inline is null)
                    {
                        i++;
                        if (i >= args.Count)
                        {
                            throw new OptionException($"flag needs an argument: --{name}");
                        }
                    }

                    continue;
                }

                if (IgnoredBoolFlags.Contains(name))
                {
                    continue;
                }

                flag = Array.Find(Flags, f => f.Long == name);
                display = "--" + name;
                if (flag is null)
                {
                    throw new OptionException($"unknown flag: {display}");
                }
            }
            else if (arg.Length >= 2 && arg[0] == '-')
            {
                char c = arg[1];
                flag = Array.Find(Flags, f => f.Short == c);
                display = "-" + c;
                if (flag is null)
                {
                    throw new OptionException($"unknown shorthand flag: '{c}' in {arg}");
                }

                if (arg.Length > 2)
                {
                    inline = arg[2] == '=' ? arg[3..] : arg[2..];
                }
            }
            else
            {
                throw new OptionException($"unexpected argument \"{arg}\": sharpproxy iptables takes only flags");
            }

            string value;
            if (flag.Kind == Kind.Value)
            {
                if (inline is not null)
                {
                    value = inline;
                }
                else if (i + 1 < args.Count)
                {
                    value = args[++i];
                }
                else
                {
                    throw new OptionException($"flag needs an argument: {Describe(flag)}");
                }
            }
            else
            {
                value = inline ?? "true";
            }

            try
            {
                flag.Set(options, value);
            }
            catch (OptionException e)
            {
                throw new OptionException($"invalid value \"{value}\" for flag {Describe(flag)}: {e.Message}");
            }

            nativeOnCommandLine |= flag.Long == "native-nftables";
            backendOnCommandLine |= flag.Long == "backend";
        }

        if (nativeOnCommandLine && backendOnCommandLine && options.NativeNftables && options.BackendChoice == CaptureBackend.Iptables)
        {
            throw new OptionException("flag --native-nftables conflicts with --backend iptables");
        }

        // An explicit --backend wins over NATIVE_NFTABLES from the environment.
        options.Backend = options.BackendChoice ?? (options.NativeNftables ? CaptureBackend.Nftables : CaptureBackend.Iptables);
        return options;
    }

    private static void ApplyEnvironment(IptablesOptions options, IReadOnlyDictionary<string, string> environment)
    {
        foreach (var flag in Flags)
        {
            foreach (var name in flag.EnvVars)
            {
                if (!environment.TryGetValue(name, out var value) || value.Length == 0)
                {
                    continue;
                }

                try
                {
                    flag.Set(options, value);
                }
                catch (OptionException e)
                {
                    throw new OptionException(
                        $"invalid value \"{value}\" in environment variable {name} (flag {Describe(flag)}): {e.Message}");
                }

                break;
            }
        }

        if (environment.TryGetValue("ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", out var loopback) && loopback.Length > 0)
        {
            options.HostIPv4LoopbackCidr = EnvOnly("ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", loopback, LoopbackCidr);
        }

        if (environment.TryGetValue("ISTIO_OUTBOUND_OWNER_GROUPS", out var include) && include.Length > 0)
        {
            options.OwnerGroupsInclude = EnvOnly("ISTIO_OUTBOUND_OWNER_GROUPS", include, v => v == "*" ? v : IdList(v, "group"));
        }

        if (environment.TryGetValue("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", out var exclude) && exclude.Length > 0)
        {
            options.OwnerGroupsExclude = EnvOnly("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", exclude, v => IdList(v, "group"));
        }

        // tools/common/config/validation.go ValidateOwnerGroups: an include list becomes one rule of N matches.
        if (options.OwnerGroupsInclude != "*" && IptablesOptions.Split(options.OwnerGroupsInclude).Count > 64)
        {
            throw new OptionException(
                $"invalid value in environment variable ISTIO_OUTBOUND_OWNER_GROUPS: the number of owner groups whose outgoing " +
                $"traffic is redirected cannot exceed 64, got {IptablesOptions.Split(options.OwnerGroupsInclude).Count}");
        }
    }

    private static string EnvOnly(string name, string value, Func<string, string> validate)
    {
        try
        {
            return validate(value);
        }
        catch (OptionException e)
        {
            throw new OptionException($"invalid value \"{value}\" in environment variable {name}: {e.Message}");
        }
    }

    private static string Describe(Flag flag) => flag.Short is { } s ? $"-{s}/--{flag.Long}" : $"--{flag.Long}";

    private static IEnumerable<string> Items(string value) =>
        value.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0);

    private static string Port(string value)
    {
        var v = value.Trim();
        if (!IsPort(v))
        {
            throw new OptionException("not a valid port (an integer from 1 to 65535)");
        }

        return v;
    }

    private static bool IsPort(string v) =>
        v.Length is > 0 and <= 5 && v.All(char.IsAsciiDigit) && int.Parse(v, CultureInfo.InvariantCulture) is > 0 and <= 65535;

    private static string Ports(string value)
    {
        var items = Items(value).ToList();
        foreach (var item in items)
        {
            if (item == "*")
            {
                throw new OptionException("'*' is not allowed here; give a comma separated list of ports");
            }

            if (!IsPort(item))
            {
                throw new OptionException($"\"{item}\" is not a valid port (an integer from 1 to 65535)");
            }
        }

        return string.Join(',', items);
    }

    private static string PortsOrWildcard(string value)
    {
        var items = Items(value).ToList();
        if (items.Count == 1 && items[0] == "*")
        {
            return "*";
        }

        if (items.Contains("*"))
        {
            throw new OptionException("'*' cannot be combined with a list of ports");
        }

        return Ports(value);
    }

    private static string CidrsOrWildcard(string value, bool allowWildcard)
    {
        var items = Items(value).ToList();
        if (items.Contains("*"))
        {
            if (!allowWildcard)
            {
                // run.go: "invalid value for OUTBOUND_IP_RANGES_EXCLUDE".
                throw new OptionException("'*' is not allowed for excluded CIDRs (OUTBOUND_IP_RANGES_EXCLUDE)");
            }

            if (items.Count > 1)
            {
                throw new OptionException("'*' cannot be combined with a list of CIDRs");
            }

            return "*";
        }

        return string.Join(',', items.Select(Cidr));
    }

    /// <summary>Go's <c>netip.ParsePrefix</c> then <c>Prefix.String()</c>: host bits are kept as written.</summary>
    internal static string Cidr(string item)
    {
        int slash = item.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == item.Length - 1)
        {
            throw new OptionException($"\"{item}\" is not a CIDR (address/prefix-length)");
        }

        string addressText = item[..slash];
        string bitsText = item[(slash + 1)..];
        if (addressText.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(addressText, out var address) ||
            (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && addressText.Count(c => c == '.') != 3))
        {
            throw new OptionException($"\"{item}\" is not a CIDR: \"{addressText}\" is not an IP address");
        }

        int max = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        if (!bitsText.All(char.IsAsciiDigit) || bitsText.Length is 0 or > 3 ||
            !int.TryParse(bitsText, NumberStyles.None, CultureInfo.InvariantCulture, out int bits) || bits > max ||
            (bitsText.Length > 1 && bitsText[0] == '0'))
        {
            throw new OptionException($"\"{item}\" is not a CIDR: bad prefix length \"{bitsText}\" (0-{max})");
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return $"{address}/{bits}";
    }

    private static string LoopbackCidr(string value)
    {
        string cidr = Cidr(value.Trim());
        var address = IPAddress.Parse(cidr[..cidr.IndexOf('/', StringComparison.Ordinal)]);
        int bits = int.Parse(cidr[(cidr.IndexOf('/', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !IPAddress.IsLoopback(address))
        {
            throw new OptionException($"expected an IPv4 loopback address in CIDR {cidr}");
        }

        if (bits is < 8 or > 32)
        {
            throw new OptionException($"expected CIDR {cidr} to have a mask in range [8, 32]");
        }

        return cidr;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_.-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9_.@+-]{1,15}$", RegexOptions.CultureInvariant)]
    private static partial Regex InterfacePattern();

    private static string IdList(string value, string what)
    {
        var items = Items(value).ToList();
        foreach (var item in items)
        {
            bool numeric = item.All(char.IsAsciiDigit);
            if (numeric ? !uint.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) || id == uint.MaxValue
                        : !NamePattern().IsMatch(item))
            {
                throw new OptionException($"\"{item}\" is not a numeric {what} id or a {what} name");
            }
        }

        return string.Join(',', items);
    }

    private static string Interfaces(string value)
    {
        var items = Items(value).ToList();
        foreach (var item in items)
        {
            if (!InterfacePattern().IsMatch(item) || item is "." or "..")
            {
                throw new OptionException($"\"{item}\" is not a valid interface name (1-15 characters, no '/', ':' or spaces)");
            }
        }

        return string.Join(',', items);
    }

    private static string Mode(string value)
    {
        var v = value.Trim();
        if (v.Length == 0)
        {
            return "";
        }

        if (v.Equals("REDIRECT", StringComparison.OrdinalIgnoreCase))
        {
            return "REDIRECT";
        }

        if (v.Equals("TPROXY", StringComparison.OrdinalIgnoreCase))
        {
            return "TPROXY";
        }

        throw new OptionException("expected REDIRECT or TPROXY");
    }

    private static string Mark(string value)
    {
        var v = value.Trim();
        if (!v.All(char.IsAsciiDigit) || !uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out uint mark) || mark == 0)
        {
            throw new OptionException("not a valid packet mark (a decimal integer from 1 to 4294967295)");
        }

        return v;
    }

    private static string RouteTable(string value)
    {
        var v = value.Trim();
        if (!v.All(char.IsAsciiDigit) || !uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out uint table) ||
            table is 0 or 253 or 254 or 255)
        {
            throw new OptionException("not a usable routing table id (1-4294967295, except 253, 254 and 255 which the kernel reserves)");
        }

        return v;
    }

    /// <summary>Go's <c>strconv.ParseBool</c>.</summary>
    private static bool Bool(string value) => value.Trim() switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw new OptionException("expected a boolean (true or false)"),
    };

    [GeneratedRegex(@"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();

    /// <summary>Go's <c>time.ParseDuration</c> (non-negative only).</summary>
    private static TimeSpan Duration(string value)
    {
        var v = value.Trim();
        if (v == "0")
        {
            return TimeSpan.Zero;
        }

        if (!DurationPattern().IsMatch(v))
        {
            throw new OptionException("not a duration (e.g. 5s, 500ms, 1m30s)");
        }

        double ticks = 0;
        foreach (Match m in DurationPart().Matches(v))
        {
            double n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            ticks += m.Groups[2].Value switch
            {
                "ns" => n / 100,
                "us" or "µs" => n * 10,
                "ms" => n * TimeSpan.TicksPerMillisecond,
                "s" => n * TimeSpan.TicksPerSecond,
                "m" => n * TimeSpan.TicksPerMinute,
                _ => n * TimeSpan.TicksPerHour,
            };
        }

        return TimeSpan.FromTicks((long)ticks);
    }

    private static string NamespacePath(string value)
    {
        var v = value.Trim();
        if (v.Length == 0)
        {
            return "";
        }

        if (!File.Exists(v))
        {
            throw new OptionException($"network namespace \"{v}\" does not exist (expected a path such as /var/run/netns/<name>)");
        }

        return v;
    }

    private static string IptablesVariant(string value) => value.Trim() switch
    {
        "" => "",
        "legacy" => "legacy",
        "nft" => "nft",
        _ => throw new OptionException("expected legacy or nft"),
    };

    private static CaptureBackend Backend(string value) => value.Trim().ToLowerInvariant() switch
    {
        "iptables" => CaptureBackend.Iptables,
        "nftables" or "nft" => CaptureBackend.Nftables,
        _ => throw new OptionException("expected iptables or nftables"),
    };
}
