using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// Every object under deploy/ (and the pod the Istio template injects) against the Kubernetes and Istio OpenAPI
/// schemas, with the npm packages kubernetes-models and @kubernetes-models/istio (tests/k8s-schema). Installs them
/// with <c>npm ci</c> on first use; needs Node.js and npm on PATH, as the machine and CI have.
/// </summary>
public sealed class SchemaTests(ITestOutputHelper output)
{
    private static readonly string SchemaDirectory = Repository.PathOf("tests/k8s-schema");
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    [Fact]
    public async Task EveryManifest_MatchesTheKubernetesAndIstioSchemas()
    {
        await EnsureInstalledAsync();
        var files = Directory.EnumerateFiles(Repository.DeployDirectory, "*.yaml", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "sharpproxy-injection-template.yaml") // Helm values, not an object; rendered below
            .Order(StringComparer.Ordinal)
            .ToList();
        var injected = Path.Combine(Path.GetTempPath(), $"sharpproxy-injected-pod-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(injected, "apiVersion: v1\nkind: Pod\n" + IstioTemplate.RenderWithDefaults(DeployTree.IstioTemplateText));
        try
        {
            var (exitCode, stdout, stderr) = await RunAsync("node", ["validate.mjs", .. files, injected], TimeSpan.FromMinutes(2));

            output.WriteLine(stdout);
            output.WriteLine(stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(exitCode == 0, "schema validation failed:\n" + string.Join('\n', lines.Where(l => !l.StartsWith("ok ", StringComparison.Ordinal))) + "\n" + stderr);
            var validated = lines.Count(l => l.StartsWith("ok ", StringComparison.Ordinal));
            // Every Kubernetes object, the IstioOperator overlay and the injected pod; none skipped silently.
            Assert.Equal(DeployTree.KubernetesObjects.Count() + 2, validated);
            Assert.Contains(lines, l => l.StartsWith($"ok {injected} Pod", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(injected);
        }
    }

    private async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            var installed = Path.Combine(SchemaDirectory, "node_modules", ".package-lock.json");
            var locked = Path.Combine(SchemaDirectory, "package-lock.json");
            if (File.Exists(installed) && File.GetLastWriteTimeUtc(installed) >= File.GetLastWriteTimeUtc(locked))
            {
                return;
            }

            var (exitCode, stdout, stderr) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5));
            output.WriteLine(stdout + stderr);
            Assert.True(exitCode == 0, $"npm ci in tests/k8s-schema failed (exit {exitCode}):\n{stdout}\n{stderr}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    private static async Task<(int ExitCode, string StandardOutput, string StandardError)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            WorkingDirectory = SchemaDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', startInfo.ArgumentList)} did not finish within {timeout.TotalSeconds:F0} s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
