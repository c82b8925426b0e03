using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SharpProxy.Testing;

/// <summary>Exit code and captured output of a proxy run to completion (e.g. <c>--mode validate</c>).</summary>
public sealed record ProxyRunResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>
/// The real proxy executable in its own process: <c>dotnet sharpproxy.dll -c FILE --admin-address-path TMP [args]</c>.
/// Start waits (bounded) until the admin address file is written and <c>/ready</c> answers 200 <c>LIVE</c>.
/// Output (stdout and stderr) is captured for assertion messages. Disposing kills the process if it still runs.
/// </summary>
public sealed partial class ProxyProcess : IAsyncDisposable, IDisposable
{
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);
    private const int MaxCapturedChars = 1 << 20;
    private const int Sigterm = 15;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();
    private readonly string _workDirectory;
    private readonly HttpClient _admin;
    private long _droppedChars;
    private int _disposed;

    private ProxyProcess(Process process, string workDirectory)
    {
        _process = process;
        _workDirectory = workDirectory;
        _admin = new HttpClient(TestHttp.CreateHandler(), disposeHandler: true) { Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>Environment variable that points the tests at another build of the proxy: a .dll (run with dotnet) or an executable.</summary>
    public const string ProxyPathVariable = "SHARPPROXY_TEST_PROXY";

    /// <summary>
    /// What the tests run: <see cref="ProxyPathVariable"/> if set, else sharpproxy.dll next to the test assembly
    /// (copied there by the project reference).
    /// </summary>
    public static string ProxyDllPath =>
        Environment.GetEnvironmentVariable(ProxyPathVariable) is { Length: > 0 } overridden
            ? Path.GetFullPath(overridden)
            : Path.Combine(AppContext.BaseDirectory, "sharpproxy.dll");

    public int ProcessId => _process.Id;

    /// <summary>Base address of the admin listener, e.g. http://127.0.0.1:40123/.</summary>
    public Uri AdminUri { get; private set; } = new("http://127.0.0.1:0/");

    public string AdminAddressFile => Path.Combine(_workDirectory, "admin-address");

    public IReadOnlyList<string> Arguments { get; private init; } = [];

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; throws if the process still runs.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the proxy wrote to stdout and stderr so far (interleaved, capped at 1 MiB, newest kept).</summary>
    public string Output
    {
        get
        {
            lock (_outputLock)
            {
                var dropped = Interlocked.Read(ref _droppedChars);
                return dropped > 0 ? $"[{dropped} earlier characters dropped]\n{_output}" : _output.ToString();
            }
        }
    }

    /// <summary>Peak resident set size (VmHWM of /proc/PID/status) in bytes.</summary>
    public long PeakRssBytes => ReadProcStatusKilobytes("VmHWM") * 1024;

    /// <summary>Current resident set size (VmRSS of /proc/PID/status) in bytes.</summary>
    public long CurrentRssBytes => ReadProcStatusKilobytes("VmRSS") * 1024;

    /// <summary>Starts the proxy on <paramref name="configFile"/> and waits until it is ready.</summary>
    public static Task<ProxyProcess> StartAsync(string configFile, IEnumerable<string>? extraArguments = null, TimeSpan? startTimeout = null, CancellationToken cancellationToken = default) =>
        StartAsync(configFile, extraArguments, environment: null, startTimeout, cancellationToken);

    /// <summary>Starts the proxy with extra environment variables (e.g. OTEL_EXPORTER_OTLP_ENDPOINT) and waits until it is ready.</summary>
    public static async Task<ProxyProcess> StartAsync(
        string configFile,
        IEnumerable<string>? extraArguments,
        IReadOnlyDictionary<string, string>? environment,
        TimeSpan? startTimeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(configFile);
        var workDirectory = Directory.CreateTempSubdirectory("sharpproxy-test-").FullName;
        var adminFile = Path.Combine(workDirectory, "admin-address");
        string[] arguments = ["-c", configFile, "--admin-address-path", adminFile, .. extraArguments ?? []];
        var process = CreateProcess(arguments, redirectInput: false);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            process.StartInfo.Environment[name] = value;
        }

        var proxy = new ProxyProcess(process, workDirectory) { Arguments = arguments };
        process.OutputDataReceived += (_, e) => proxy.Capture(e.Data, "out");
        process.ErrorDataReceived += (_, e) => proxy.Capture(e.Data, "err");
        try
        {
            if (!process.Start())
            {
                throw new InvalidOperationException("The proxy process did not start.");
            }

            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await proxy.WaitUntilReadyAsync(startTimeout ?? DefaultStartTimeout, cancellationToken).ConfigureAwait(false);
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs the proxy with <paramref name="arguments"/> until it exits (e.g. <c>--mode validate</c>); kills it on timeout.</summary>
    public static async Task<ProxyRunResult> RunToCompletionAsync(IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        using var process = CreateProcess(arguments.ToArray(), redirectInput: true);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => AppendLine(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => AppendLine(stderr, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillQuietly(process);
            throw new TimeoutException($"sharpproxy {string.Join(' ', arguments)} did not exit within {timeout.TotalSeconds:F0} s.\n--- stdout ---\n{Snapshot(stdout)}\n--- stderr ---\n{Snapshot(stderr)}");
        }

        // WaitForExitAsync also waits for the end of the redirected streams.
        return new ProxyRunResult(process.ExitCode, Snapshot(stdout), Snapshot(stderr));
    }

    /// <summary>Port the OS gave to the named listener, read from admin <c>/listeners?format=json</c>.</summary>
    public async Task<int> GetListenerPortAsync(string listenerName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(listenerName);
        var (status, body) = await AdminGetAsync("/listeners?format=json", cancellationToken).ConfigureAwait(false);
        if (status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"GET /listeners?format=json returned {(int)status}: {body}\n{Describe()}");
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            foreach (var listener in document.RootElement.GetProperty("listener_statuses").EnumerateArray())
            {
                if (listener.GetProperty("name").GetString() == listenerName)
                {
                    var socketAddress = listener.GetProperty("local_address").GetProperty("socket_address");
                    var port = socketAddress.GetProperty("port_value");
                    return port.ValueKind == JsonValueKind.String
                        ? int.Parse(port.GetString()!, NumberStyles.None, CultureInfo.InvariantCulture)
                        : port.GetInt32();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidOperationException($"Unexpected /listeners?format=json shape: {body}", ex);
        }

        throw new InvalidOperationException($"No listener named '{listenerName}' in /listeners?format=json: {body}");
    }

    /// <summary>http://127.0.0.1:PORT/ of the named listener.</summary>
    public async Task<Uri> GetListenerUriAsync(string listenerName, CancellationToken cancellationToken = default)
    {
        var port = await GetListenerPortAsync(listenerName, cancellationToken).ConfigureAwait(false);
        return new Uri($"http://127.0.0.1:{port}/");
    }

    public async Task<(HttpStatusCode Status, string Body)> AdminGetAsync(string pathAndQuery, CancellationToken cancellationToken = default)
    {
        using var response = await _admin.GetAsync(new Uri(AdminUri, pathAndQuery), cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    public async Task<(HttpStatusCode Status, string Body)> AdminPostAsync(string pathAndQuery, CancellationToken cancellationToken = default)
    {
        using var content = new ByteArrayContent([]);
        using var response = await _admin.PostAsync(new Uri(AdminUri, pathAndQuery), content, cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Sends SIGTERM (kill(2)) to the proxy.</summary>
    public void SendSigterm()
    {
        if (Kill(_process.Id, Sigterm) != 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"kill({_process.Id}, SIGTERM) failed.");
        }
    }

    public Task SendSigtermAsync()
    {
        SendSigterm();
        return Task.CompletedTask;
    }

    /// <summary>Waits for the process to exit; returns false if it still runs after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return _process.HasExited;
        }
    }

    /// <summary>A description for assertion messages: pid, arguments, exit state and the captured output.</summary>
    public string Describe(int maxOutputChars = 64 * 1024)
    {
        var state = _process.HasExited ? $"exited with {_process.ExitCode}" : "running";
        var output = Output;
        if (output.Length > maxOutputChars)
        {
            output = $"[... {output.Length - maxOutputChars} characters omitted]\n{output[^maxOutputChars..]}";
        }

        return $"sharpproxy pid {_process.Id} ({state}) args: {string.Join(' ', Arguments)}\n--- proxy output ---\n{output}\n--- end of proxy output ---";
    }

    public override string ToString() => $"ProxyProcess(pid {_process.Id}, admin {AdminUri})";

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        KillQuietly(_process);
        _process.Dispose();
        _admin.Dispose();
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private static Process CreateProcess(string[] arguments, bool redirectInput)
    {
        var dll = ProxyDllPath;
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"The proxy was not found next to the tests: {dll}", dll);
        }

        var isDll = dll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var startInfo = new ProcessStartInfo(isDll ? DotnetHost() : dll)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            CreateNoWindow = true,
            WorkingDirectory = AppContext.BaseDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (isDll)
        {
            startInfo.ArgumentList.Add(dll);
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Hermetic: no system proxy can leak into the proxy's own upstream clients.
        foreach (var name in new[] { "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy" })
        {
            startInfo.Environment.Remove(name);
        }

        startInfo.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        startInfo.Environment["DOTNET_NOLOGO"] = "1";
        return new Process { StartInfo = startInfo, EnableRaisingEvents = true };
    }

    private static string DotnetHost()
    {
        // `dotnet test` sets DOTNET_HOST_PATH; otherwise the test host itself usually runs under the dotnet muxer.
        var fromEnvironment = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        return "dotnet";
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (Win32Exception)
        {
        }
    }

    private static void AppendLine(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (builder)
        {
            if (builder.Length < MaxCapturedChars)
            {
                builder.AppendLine(line);
            }
        }
    }

    private static string Snapshot(StringBuilder builder)
    {
        lock (builder)
        {
            return builder.ToString();
        }
    }

    private void Capture(string? line, string stream)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            _output.Append('[').Append(stream).Append("] ").AppendLine(line);
            if (_output.Length > MaxCapturedChars)
            {
                var excess = _output.Length - (MaxCapturedChars / 2);
                _output.Remove(0, excess);
                Interlocked.Add(ref _droppedChars, excess);
            }
        }
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        string? lastProblem = null;
        var maxAttempts = (int)(timeout.TotalMilliseconds / Polling.DefaultInterval.TotalMilliseconds) + 1;
        for (var attempt = 0; attempt < maxAttempts && stopwatch.Elapsed < timeout; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); // flush the output readers
                throw new InvalidOperationException($"The proxy exited with code {_process.ExitCode} before it was ready.\n{Describe()}");
            }

            if (TryReadAdminAddress(out var adminUri, out lastProblem))
            {
                AdminUri = adminUri;
                try
                {
                    using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    attemptCts.CancelAfter(TimeSpan.FromSeconds(2));
                    var (status, body) = await AdminGetAsync("/ready", attemptCts.Token).ConfigureAwait(false);
                    if (status == HttpStatusCode.OK && body.Trim() == "LIVE")
                    {
                        return;
                    }

                    lastProblem = $"/ready answered {(int)status} '{body.Trim()}'";
                }
                catch (HttpRequestException ex)
                {
                    lastProblem = $"/ready failed: {ex.Message}";
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    lastProblem = "/ready did not answer within 2 s";
                }
            }

            await Task.Delay(Polling.DefaultInterval, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"The proxy was not ready within {timeout.TotalSeconds:F0} s (last: {lastProblem}).\n{Describe()}");
    }

    private bool TryReadAdminAddress(out Uri adminUri, out string? problem)
    {
        adminUri = AdminUri;
        if (!File.Exists(AdminAddressFile))
        {
            problem = $"admin address file {AdminAddressFile} not written yet";
            return false;
        }

        string text;
        try
        {
            text = File.ReadAllText(AdminAddressFile).Trim();
        }
        catch (IOException ex)
        {
            problem = $"admin address file unreadable: {ex.Message}";
            return false;
        }

        // Expected "127.0.0.1:PORT"; a half-written file simply fails to parse and is read again.
        if (IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port != 0)
        {
            var host = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]" : endPoint.Address.ToString();
            adminUri = new Uri($"http://{host}:{endPoint.Port}/");
            problem = null;
            return true;
        }

        problem = $"admin address file holds '{text}', not HOST:PORT";
        return false;
    }

    private long ReadProcStatusKilobytes(string field)
    {
        var path = $"/proc/{_process.Id}/status";
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var value = line[(field.Length + 1)..].Trim();
                var space = value.IndexOf(' ', StringComparison.Ordinal);
                return long.Parse(space < 0 ? value : value[..space], NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"{field} not found in {path}.");
    }
}
