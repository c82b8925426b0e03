using System.Diagnostics;
using System.Globalization;
using SharpProxy.Interception.Platform;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// deploy/plain run for real, without a cluster: two network namespaces this test creates (a "pod" and a "client"
/// joined by a veth pair), the init container's exact args applied in the pod namespace by the built
/// <c>sharpproxy iptables</c>, the sidecar's exact args and bootstrap run as UID 1337, and an app on 8080 as UID 1000.
/// Then, as a kubelet and the app's peers would: the sidecar's postStart hook (<c>sharpproxy wait</c>), the readiness
/// probe from outside, an inbound request through the capture, and an outbound request that only works through the capture. Needs root, ip, iptables, setpriv, curl.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PlainSidecarEndToEndTests(ITestOutputHelper output)
{
    private const string AppUid = "1000";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PlainSidecar_CapturesInboundAndOutbound_InNetworkNamespaces()
    {
        var pod = DeployTree.Pods.Single(p => p.Folder == "plain");
        var proxy = pod.ProxyContainers.Single();
        var capture = pod.CaptureInitContainers.Single();
        var commandLine = ProxyCommandLine.Parse(proxy.Strings("args"));
        var (_, _, bootstrapText) = pod.MountedConfigMapFile(proxy, commandLine.ConfigPath);
        var appPort = pod.Containers.Single(c => c.Str("name") == "echo").Maps("ports").Single().Str("containerPort");

        // What this branch cannot run yet is reported, never silently passed: the same lists the other tests use.
        using (var check = ConfigWriter.WriteText(bootstrapText))
        {
            var validate = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", check.Path], StepTimeout);
            if (validate.ExitCode != 0)
            {
                // Only a rejection naming pending features skips the run (a proxy that does not start at all has none).
                var errors = validate.StandardError.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
                Assert.True(validate.ExitCode == 1 && errors.Count > 0, $"validate failed: {validate}");
                Assert.All(errors, l => Assert.True(PendingSupport.IsPendingBootstrapError(l), l));
                output.WriteLine($"PENDING (PendingSupport.BootstrapErrors): the end-to-end run needs the bootstrap's features; validate said: {validate}");
                return;
            }
        }

        foreach (var flag in commandLine.ToleratedFlags)
        {
            output.WriteLine($"TOLERATED (PendingSupport.ProxyFlags): the sidecar runs without {flag}, which this branch does not accept yet");
        }

        Require("ip", "iptables", "setpriv", "curl");
        var id = Guid.NewGuid().ToString("N")[..6];
        var octet = 100 + (int)(uint.Parse(id[..4], NumberStyles.HexNumber) % 150);
        var (podNs, clientNs) = ($"spd-{id}-pod", $"spd-{id}-cli");
        var (podIp, clientIp) = ($"10.231.{octet}.2", $"10.231.{octet}.3");
        var work = Directory.CreateTempSubdirectory("sharpproxy-deploy-e2e-");
        // The proxy (1337) and the app (1000) read their configs from here.
        File.SetUnixFileMode(work.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var processes = new List<Process>();
        try
        {
            Run("ip", "netns", "add", podNs);
            Run("ip", "netns", "add", clientNs);
            Run("ip", "link", "add", $"spd{id}p", "type", "veth", "peer", "name", $"spd{id}c");
            Run("ip", "link", "set", $"spd{id}p", "netns", podNs);
            Run("ip", "link", "set", $"spd{id}c", "netns", clientNs);
            Run("ip", "-n", podNs, "addr", "add", podIp + "/24", "dev", $"spd{id}p");
            Run("ip", "-n", clientNs, "addr", "add", clientIp + "/24", "dev", $"spd{id}c");
            foreach (var (ns, link) in new[] { (podNs, $"spd{id}p"), (clientNs, $"spd{id}c") })
            {
                Run("ip", "-n", ns, "link", "set", "lo", "up");
                Run("ip", "-n", ns, "link", "set", link, "up");
            }

            var bootstrap = WriteReadable(work, "bootstrap.yaml", bootstrapText);
            var app = WriteReadable(work, "app.yaml", DirectResponseConfig(int.Parse(appPort, CultureInfo.InvariantCulture), "hello from the app"));
            var remote = WriteReadable(work, "remote.yaml", DirectResponseConfig(9090, "hello from the remote"));
            processes.Add(StartInNamespace(podNs, AppUid, ["-c", app]));
            processes.Add(StartInNamespace(clientNs, null, ["-c", remote]));
            await WaitForAsync(() => Curl(clientNs, null, $"http://{clientIp}:9090/").Contains("remote", StringComparison.Ordinal), "the remote server");

            var iptables = Exec(podNs, null, capture.Strings("args"));
            Assert.True(iptables.Success, $"sharpproxy {string.Join(' ', capture.Strings("args"))}: {iptables.StandardError}");
            // Captured and nobody on 15001 yet: the app's outbound connection is refused, so it does go to the proxy's port.
            Assert.DoesNotContain("remote", Curl(podNs, AppUid, $"http://{clientIp}:9090/"), StringComparison.Ordinal);

            var args = ProxyCommandLine.Parse(PodChecks.ExpandedArgs(proxy)).AcceptedArgs.ToList();
            args[args.IndexOf(commandLine.ConfigPath)] = bootstrap;
            processes.Add(StartInNamespace(podNs, PodChecks.ProxyUid, args));
            // The sidecar's postStart hook, as the kubelet runs it inside the container before starting the app: the
            // image's entrypoint (here the built proxy) with the hook's arguments.
            var hook = proxy.Map("lifecycle").Map("postStart").Map("exec").Strings("command");
            var entrypoint = DockerfileTests.Entrypoint();
            Assert.Equal(entrypoint, hook.Take(entrypoint.Length));
            var held = Exec(podNs, PodChecks.ProxyUid, hook[entrypoint.Length..]);
            Assert.True(held.Success, $"postStart [{string.Join(' ', hook)}] failed: {held.StandardOutput}{held.StandardError}");
            var readiness = $"http://{podIp}:{commandLine.ValueOf("--readiness-port")}/healthz/ready";
            Assert.Equal("200", CurlStatus(clientNs, readiness));

            Assert.Contains("hello from the app", Curl(clientNs, null, $"http://{podIp}:{appPort}/"), StringComparison.Ordinal);
            Assert.Contains("hello from the remote", Curl(podNs, AppUid, $"http://{clientIp}:9090/"), StringComparison.Ordinal);
            var stats = Curl(podNs, null, "http://127.0.0.1:15000/stats");
            output.WriteLine(stats);
            Assert.Contains($"cluster.inbound|{appPort}||.upstream_rq_2xx: 1", stats, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var process in processes)
            {
                Stop(process);
            }

            ProcessRunner.Default.Run("ip", ["netns", "del", podNs]);
            ProcessRunner.Default.Run("ip", ["netns", "del", clientNs]);
            work.Delete(recursive: true);
        }
    }

    /// <summary>A stand-in app: SharpProxy answering by itself (its admin on an ephemeral port, 15000 is the sidecar's).</summary>
    private static string DirectResponseConfig(int port, string body) => $$"""
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 0 }
        static_resources:
          listeners:
          - name: app
            address:
              socket_address: { address: 0.0.0.0, port_value: {{port}} }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: app
                  route_config:
                    virtual_hosts:
                    - name: app
                      domains: ["*"]
                      routes:
                      - match: { prefix: / }
                        direct_response: { status: 200, body: { inline_string: "{{body}}\n" } }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
        """;

    private static string WriteReadable(DirectoryInfo directory, string name, string text)
    {
        var path = Path.Combine(directory.FullName, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }

    private static void Require(params string[] programs)
    {
        Assert.True(Environment.IsPrivilegedProcess, "this test needs root (it creates network namespaces)");
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"]);
        foreach (var program in programs)
        {
            Assert.True(path.Any(d => File.Exists(Path.Combine(d, program))), $"this test needs '{program}' (apt-get install -y iproute2 iptables util-linux curl)");
        }
    }

    private static void Run(params string[] command)
    {
        var result = ProcessRunner.Default.Run(command[0], command[1..]);
        Assert.True(result.Success, $"{string.Join(' ', command)}: {result.StandardError}");
    }

    /// <summary>The built proxy with <paramref name="sharpproxyArgs"/> in <paramref name="ns"/>, as <paramref name="uid"/> (same gid) when given.</summary>
    private static ProcessResult Exec(string ns, string? uid, IReadOnlyList<string> sharpproxyArgs) =>
        ProcessRunner.Default.Run("ip", [.. Prefix(ns, uid), .. ProxyCommand(), .. sharpproxyArgs]);

    private static string Curl(string ns, string? uid, string url) =>
        ProcessRunner.Default.Run("ip", [.. Prefix(ns, uid), "curl", "-s", "-m", "3", url]).StandardOutput;

    private static string CurlStatus(string ns, string url) =>
        ProcessRunner.Default.Run("ip", [.. Prefix(ns, null), "curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url]).StandardOutput;

    private static string[] Prefix(string ns, string? uid) =>
        uid is null ? ["netns", "exec", ns] : ["netns", "exec", ns, "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups"];

    private Process StartInNamespace(string ns, string? uid, IReadOnlyList<string> sharpproxyArgs)
    {
        var startInfo = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in Prefix(ns, uid).Concat(ProxyCommand()).Concat(sharpproxyArgs))
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["HOME"] = "/tmp";
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("ip netns exec did not start");
        var name = $"[{ns} uid {uid ?? "0"}] ";
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { output.WriteLine(name + e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output.WriteLine(name + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Stop(Process process)
    {
        try
        {
            // `ip netns exec` execs the command (and setpriv execs the proxy), so this PID is the proxy itself.
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>dotnet and sharpproxy.dll, or the executable alone when SHARPPROXY_TEST_PROXY names a native AOT build.</summary>
    private static string[] ProxyCommand() =>
        ProxyProcess.ProxyDllPath is var path && path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [DotnetHost(), path] : [path];

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < StepTimeout, $"timed out waiting for {what}");
            await Task.Delay(250);
        }
    }
}
