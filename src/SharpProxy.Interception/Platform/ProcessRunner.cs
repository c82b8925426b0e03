using System.ComponentModel;
using System.Diagnostics;

namespace SharpProxy.Interception.Platform;

/// <summary>The outcome of one external command.</summary>
internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Success => ExitCode == 0;

    /// <summary>Exit code used when the program could not be started (not installed).</summary>
    public const int NotFound = 127;
}

/// <summary>Runs external programs with an argument list (never through a shell).</summary>
internal interface IProcessRunner
{
    ProcessResult Run(string fileName, IReadOnlyList<string> arguments, string? standardInput = null);
}

/// <summary><see cref="Process"/>-based runner with a timeout; a missing program yields <see cref="ProcessResult.NotFound"/>.</summary>
internal sealed class ProcessRunner(TimeSpan timeout) : IProcessRunner
{
    public static ProcessRunner Default { get; } = new(TimeSpan.FromSeconds(60));

    public ProcessResult Run(string fileName, IReadOnlyList<string> arguments, string? standardInput = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        // iptables' owner match may consult NSS; keep the child's locale stable and its output parseable.
        psi.Environment["LC_ALL"] = "C";

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        }
        catch (Win32Exception e)
        {
            return new ProcessResult(ProcessResult.NotFound, "", $"{fileName}: {e.Message}");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                if (standardInput is not null)
                {
                    process.StandardInput.Write(standardInput);
                }

                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The child exited before reading its input; its exit code and stderr say why.
            }

            if (!process.WaitForExit(timeout))
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }

                return new ProcessResult(-1, "", $"{fileName} did not finish within {timeout.TotalSeconds:0}s");
            }

            process.WaitForExit();
            return new ProcessResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }
}

/// <summary>
/// Runs every command inside another network namespace through <c>nsenter --net=PATH --</c> (util-linux), the way
/// Istio's CNI plugin programs a pod namespace without leaving its own.
/// </summary>
internal sealed class NetworkNamespaceRunner(IProcessRunner inner, string namespacePath) : IProcessRunner
{
    public string NamespacePath { get; } = namespacePath;

    public ProcessResult Run(string fileName, IReadOnlyList<string> arguments, string? standardInput = null) =>
        inner.Run("nsenter", ["--net=" + NamespacePath, "--", fileName, .. arguments], standardInput);
}
