using System.Globalization;
using SharpProxy.Interception.Options;
using SharpProxy.Interception.Platform;

namespace SharpProxy.Interception.Apply;

/// <summary>
/// The non-netfilter part of Istio's setup (tools/istio-iptables/pkg/capture/run_linux.go <c>ConfigureRoutes</c>):
/// <c>::6/128</c> on <c>lo</c> when IPv6 is enabled (the passthrough source address), and for TPROXY the policy route
/// <c>fwmark MARK lookup TABLE</c> with <c>local default dev lo table TABLE</c>. Unlike Istio, adding is idempotent
/// (no duplicate <c>ip rule</c> on re-run) and cleanup removes the TPROXY rule and route table.
/// </summary>
internal sealed class RouteConfigurator(IProcessRunner runner, TextWriter log)
{
    /// <summary>The <c>ip</c> commands apply would run, for <c>--dry-run</c>.</summary>
    public static IEnumerable<string> Describe(IptablesOptions cfg)
    {
        if (cfg.EnableIPv6)
        {
            yield return "ip -6 addr add ::6/128 dev lo";
        }

        if (NeedsTproxyRoutes(cfg))
        {
            foreach (var f in Families(cfg.EnableIPv6))
            {
                yield return $"ip {f} rule add fwmark {cfg.InboundTProxyMark} lookup {cfg.InboundTProxyRouteTable}";
                yield return $"ip {f} route add local default dev lo table {cfg.InboundTProxyRouteTable}";
            }
        }
    }

    public void Apply(IptablesOptions cfg)
    {
        if (cfg.EnableIPv6)
        {
            // "replace" is "add" that does not fail when the address is already there.
            Must(["-6", "addr", "replace", "::6/128", "dev", "lo"]);
        }

        if (!NeedsTproxyRoutes(cfg))
        {
            return;
        }

        foreach (var f in Families(cfg.EnableIPv6))
        {
            if (!HasMarkRule(f, cfg))
            {
                Must([f, "rule", "add", "fwmark", cfg.InboundTProxyMark, "lookup", cfg.InboundTProxyRouteTable]);
            }

            Must([f, "route", "replace", "local", "default", "dev", "lo", "table", cfg.InboundTProxyRouteTable]);
        }
    }

    public void Cleanup(IptablesOptions cfg)
    {
        foreach (var f in Families(true))
        {
            for (int i = 0; i < 16 && HasMarkRule(f, cfg); i++)
            {
                runner.Run("ip", [f, "rule", "del", "fwmark", cfg.InboundTProxyMark, "lookup", cfg.InboundTProxyRouteTable]);
            }

            // Only our TPROXY route lives in this table; flushing an empty or missing table is harmless.
            runner.Run("ip", [f, "route", "flush", "table", cfg.InboundTProxyRouteTable]);
        }
    }

    private static bool NeedsTproxyRoutes(IptablesOptions cfg) => cfg.IsTproxy && cfg.InboundPortsInclude.Length > 0;

    private static IEnumerable<string> Families(bool ipv6) => ipv6 ? ["-4", "-6"] : ["-4"];

    private bool HasMarkRule(string family, IptablesOptions cfg)
    {
        var r = runner.Run("ip", [family, "rule", "show"]);
        if (!r.Success)
        {
            return false;
        }

        string mark = "0x" + uint.Parse(cfg.InboundTProxyMark, CultureInfo.InvariantCulture).ToString("x", CultureInfo.InvariantCulture);
        return r.StandardOutput.Split('\n').Any(l =>
            l.Contains($"fwmark {mark} lookup {cfg.InboundTProxyRouteTable}", StringComparison.Ordinal) ||
            l.Contains($"fwmark {cfg.InboundTProxyMark} lookup {cfg.InboundTProxyRouteTable}", StringComparison.Ordinal));
    }

    private void Must(string[] args)
    {
        log.WriteLine("Running ip " + string.Join(' ', args));
        var r = runner.Run("ip", args);
        if (r.ExitCode == ProcessResult.NotFound)
        {
            throw new ApplyException("ip not found (install the 'iproute2' package)");
        }

        if (!r.Success)
        {
            throw new ApplyException($"ip {string.Join(' ', args)} failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }
    }
}
