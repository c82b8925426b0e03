using System.Globalization;
using System.Net;

namespace SharpProxy.Cli;

/// <summary>
/// <c>sharpproxy wait</c>, Istio's <c>pilot-agent wait</c>: polls a readiness URL until it answers 200 (exit 0) or the
/// timeout passes (exit 1), so an application container can start only after its sidecar is ready.
/// </summary>
internal static class WaitCommand
{
    public const string DefaultUrl = "http://127.0.0.1:15021/healthz/ready";

    public const string Usage = """
        usage: sharpproxy wait [--url URL] [--timeout-seconds N] [--period-millis N]
          --url URL              readiness URL to poll (default http://127.0.0.1:15021/healthz/ready)
          --timeout-seconds N    give up after N seconds and exit 1 (default 60)
          --period-millis N      wait N ms between attempts (default 500)
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        var url = DefaultUrl;
        var timeoutSeconds = 60;
        var periodMillis = 500;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? value = null;
            var equals = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                value = arg[(equals + 1)..];
                arg = arg[..equals];
            }
            else if (arg is "--url" or "--timeout-seconds" or "--period-millis" && i + 1 < args.Count)
            {
                value = args[++i];
            }

            switch (arg)
            {
                case "-h" or "--help":
                    await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
                    return 0;
                case "--url" when value is not null && Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https":
                    url = value;
                    break;
                case "--timeout-seconds" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0:
                    timeoutSeconds = seconds;
                    break;
                case "--period-millis" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var millis) && millis > 0:
                    periodMillis = millis;
                    break;
                default:
                    await stderr.WriteLineAsync(value is null
                        ? $"error: wait: unknown or incomplete option '{args[i]}'\n{Usage}"
                        : $"error: wait: invalid value '{value}' for {arg}\n{Usage}").ConfigureAwait(false);
                    return 2;
            }
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        var period = TimeSpan.FromMilliseconds(periodMillis);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(Math.Max(1, Math.Min(5, timeoutSeconds))) };
        await stdout.WriteLineAsync($"Waiting for {url} to be ready (timeout {timeoutSeconds} s)").ConfigureAwait(false);
        var attempts = 0;
        var last = "no attempt";
        while (true)
        {
            attempts++;
            try
            {
                using var response = await client.GetAsync(url).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    await stdout.WriteLineAsync($"{url} is ready after {attempts} attempt(s)").ConfigureAwait(false);
                    return 0;
                }

                last = "HTTP " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            await Task.Delay(remaining < period ? remaining : period).ConfigureAwait(false);
        }

        await stderr.WriteLineAsync($"error: {url} not ready after {timeoutSeconds} s ({attempts} attempts; last: {last})").ConfigureAwait(false);
        return 1;
    }
}
