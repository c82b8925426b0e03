using System.Globalization;
using Microsoft.Extensions.Logging;

namespace SharpProxy.Cli;

/// <summary>
/// Parses Envoy-style flags. Hand-written (not a CLI library) so that every flag and error message is Envoy's shape
/// and a bad flag is reported with its name.
/// </summary>
internal static class ProxyOptionsParser
{
    public const string Usage = """
        usage: sharpproxy [options]                 run the proxy
               sharpproxy demo                       start two echo upstreams and the canary demo config
               sharpproxy iptables [flags]           apply, print (--dry-run) or remove (--cleanup-only) traffic capture rules
               sharpproxy wait [--url U] [--timeout-seconds N] [--period-millis N]
                                                     block until U answers 200 (Istio's pilot-agent wait); exit 1 on timeout

        options:
          -c, --config-path FILE         Envoy v3 bootstrap (YAML or JSON); default: the embedded config/canary-demo.yaml
              --config-yaml STRING       bootstrap YAML merged over --config-path
              --concurrency N            worker count (default: CPU count)
          -l, --log-level LEVEL          trace|debug|info|warning|error|critical|off (default: info)
              --mode serve|validate      validate: check the config, print every error, exit 1 on any
              --allow-unknown-static-fields   ignore (and count) fields SharpProxy does not honour
              --drain-time-s N           how long SIGTERM waits for requests in flight (default: 600)
              --admin-address-path FILE  write the admin listener's address to FILE
              --readiness-port N         serve GET /healthz/ready on N (Istio: 15021): 200 once the config is applied and
                                         the listeners are bound, 503 before and while draining (default 0: off)
              --readiness-address IP     address of the readiness listener (default 0.0.0.0)
              --prometheus-port N        serve /stats/prometheus on 0.0.0.0:N too (Istio uses 15090); 0 = off (default)
              --http1-fast-path on|off   serve plain HTTP/1.1 on the built-in fast path (default: on, or off when the
                                         environment has SHARPPROXY_HTTP1_FAST_PATH=0); off = Kestrel serves all HTTP
          -h, --help                     this text
              --version                  the version
        """;

    /// <returns>The options, or null with <paramref name="error"/> set.</returns>
    public static ProxyOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var options = new ProxyOptions();
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inlineValue = null;
            var equals = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=') : -1;
            if (equals > 0)
            {
                inlineValue = arg[(equals + 1)..];
                arg = arg[..equals];
            }

            string? Value()
            {
                if (inlineValue is not null)
                {
                    return inlineValue;
                }

                if (i + 1 < args.Count)
                {
                    return args[++i];
                }

                return null;
            }

            switch (arg)
            {
                case "-c":
                case "--config-path":
                    options = options with { ConfigPath = Value() ?? Missing(arg, out error) };
                    break;
                case "--config-yaml":
                    options = options with { ConfigYaml = Value() ?? Missing(arg, out error) };
                    break;
                case "--concurrency":
                    {
                        var value = Value();
                        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 1024)
                        {
                            error = $"--concurrency: expected a whole number from 1 to 1024, got '{value}'";
                            return null;
                        }

                        options = options with { Concurrency = n };
                        break;
                    }

                case "-l":
                case "--log-level":
                    {
                        var value = Value();
                        var level = ParseLogLevel(value);
                        if (level is null)
                        {
                            error = $"{arg}: expected trace|debug|info|warning|error|critical|off, got '{value}'";
                            return null;
                        }

                        options = options with { LogLevel = level.Value };
                        break;
                    }

                case "--mode":
                    {
                        var value = Value();
                        RunMode? mode = value switch
                        {
                            "serve" => RunMode.Serve,
                            "validate" => RunMode.Validate,
                            _ => null,
                        };
                        if (mode is null)
                        {
                            error = $"--mode: expected serve or validate, got '{value}'";
                            return null;
                        }

                        options = options with { Mode = mode.Value };
                        break;
                    }

                case "--allow-unknown-static-fields":
                case "--allow-unknown-fields":
                    options = options with { AllowUnknownStaticFields = true };
                    break;
                case "--drain-time-s":
                    {
                        var value = Value();
                        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                        {
                            error = $"--drain-time-s: expected a whole number of seconds, got '{value}'";
                            return null;
                        }

                        options = options with { DrainTime = TimeSpan.FromSeconds(seconds) };
                        break;
                    }

                case "--http1-fast-path":
                    {
                        var value = Value();
                        if (value is not ("on" or "off"))
                        {
                            error = $"--http1-fast-path: expected 'on' or 'off', got '{value}'";
                            return null;
                        }

                        options = options with { Http1FastPath = value == "on" };
                        break;
                    }

                case "--readiness-port":
                    {
                        var value = Value();
                        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                        {
                            error = $"--readiness-port: expected a port from 0 to 65535, got '{value}'";
                            return null;
                        }

                        options = options with { ReadinessPort = port };
                        break;
                    }

                case "--readiness-address":
                    {
                        var value = Value();
                        if (!System.Net.IPAddress.TryParse(value, out _))
                        {
                            error = $"--readiness-address: expected an IP address, got '{value}'";
                            return null;
                        }

                        options = options with { ReadinessAddress = value! };
                        break;
                    }

                case "--prometheus-port":
                    {
                        var value = Value();
                        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                        {
                            error = $"--prometheus-port: expected a port number from 0 to 65535, got '{value}'";
                            return null;
                        }

                        options = options with { PrometheusPort = port };
                        break;
                    }

                case "--admin-address-path":
                    options = options with { AdminAddressPath = Value() ?? Missing(arg, out error) };
                    break;
                default:
                    error = $"unknown option '{args[i]}' (see --help)";
                    return null;
            }

            if (error is not null)
            {
                return null;
            }
        }

        return options;
    }

    private static string? Missing(string flag, out string error)
    {
        error = $"{flag}: a value is required";
        return null;
    }

    private static LogLevel? ParseLogLevel(string? value) => value?.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        "off" => LogLevel.None,
        _ => null,
    };
}
