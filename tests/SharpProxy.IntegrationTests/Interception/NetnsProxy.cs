using System.Diagnostics;
using System.Text;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// The real sharpproxy process started inside a test network namespace (<c>ip netns exec</c>), optionally under another
/// UID/GID (<c>setpriv</c>, as Istio runs its proxy as 1337). Ready when the admin address file appears, which the proxy
/// writes after its listeners are bound. Disposing kills it.
/// </summary>
internal sealed class NetnsProxy : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _workDirectory;

    private NetnsProxy(Process process, string workDirectory)
    {
        _process = process;
        _workDirectory = workDirectory;
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts sharpproxy with <paramref name="yaml"/> inside <paramref name="ns"/>; waits (bounded) until its listeners are bound.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static async Task<NetnsProxy> StartAsync(TestNetns ns, string yaml, int? uid = null, IEnumerable<string>? extraArguments = null)
    {
        var workDirectory = Directory.CreateTempSubdirectory("sharpproxy-netns-").FullName;
        // The proxy may run as an unprivileged UID: it must read the config and write the admin address file here.
        File.SetUnixFileMode(workDirectory, (UnixFileMode)0b111_111_111);
        var configPath = Path.Combine(workDirectory, "bootstrap.yaml");
        await File.WriteAllTextAsync(configPath, yaml);
        File.SetUnixFileMode(configPath, (UnixFileMode)0b110_100_100);
        var adminFile = Path.Combine(workDirectory, "admin-address");

        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "netns", "exec", ns.Name })
        {
            psi.ArgumentList.Add(arg);
        }

        if (uid is { } id)
        {
            foreach (var arg in new[] { "setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--" })
            {
                psi.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in ProxyCommand().Concat(["-c", configPath, "--admin-address-path", adminFile, "--concurrency", "2"]).Concat(extraArguments ?? []))
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["HOME"] = workDirectory;
        psi.Environment["DOTNET_CLI_HOME"] = workDirectory;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var process = new Process { StartInfo = psi };
        var proxy = new NetnsProxy(process, workDirectory);
        process.OutputDataReceived += (_, e) => proxy.Append(e.Data);
        process.ErrorDataReceived += (_, e) => proxy.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Polling.UntilAsync(() => File.Exists(adminFile) || process.HasExited, TimeSpan.FromSeconds(30), "sharpproxy to bind its listeners in " + ns.Name);
            if (process.HasExited)
            {
                throw new InvalidOperationException($"sharpproxy exited with {process.ExitCode} in {ns.Name}:\n{proxy.Output}");
            }
        }
        catch
        {
            proxy.Dispose();
            throw;
        }

        return proxy;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

    /// <summary>dotnet and sharpproxy.dll, or the executable alone when the tests run a native AOT build.</summary>
    private static string[] ProxyCommand() =>
        ProxyProcess.ProxyDllPath is var path && path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [DotnetHost(), path] : [path];

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 256 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }
}
