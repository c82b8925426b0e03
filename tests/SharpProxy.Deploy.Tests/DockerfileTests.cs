using System.Text.Json;
using System.Xml.Linq;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// The root Dockerfile cannot be built here (no Docker engine), so what can go stale is checked against the tree: COPY
/// sources exist, everything the publish needs is copied, the entrypoint runs the exe the project builds, and the
/// runtime stage runs as 1337 with the sidecar's .NET settings.
/// </summary>
public sealed class DockerfileTests
{
    private static readonly Lazy<List<string>> Instructions = new(() => ReadInstructions(Repository.PathOf("Dockerfile")));

    [Fact]
    public void CopySources_ExistInTheRepository()
    {
        var copies = Instructions.Value.Where(i => i.StartsWith("COPY ", StringComparison.Ordinal) && !i.Contains("--from=", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            var words = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            foreach (var source in words[..^1])
            {
                Assert.True(File.Exists(Repository.PathOf(source)) || Directory.Exists(Repository.PathOf(source)), $"`{copy}`: {source} does not exist");
            }
        }
    }

    [Fact]
    public void PublishedProject_AndEverythingItBuildsFrom_IsCopied()
    {
        var copied = Instructions.Value.Where(i => i.StartsWith("COPY ", StringComparison.Ordinal) && !i.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).SkipLast(1))
            .Select(s => Path.GetFullPath(Repository.PathOf(s.TrimEnd('/'))))
            .ToList();
        var publish = Assert.Single(Instructions.Value, i => i.Contains("dotnet publish", StringComparison.Ordinal));
        var project = publish.Split(' ').Single(w => w.EndsWith(".csproj", StringComparison.Ordinal));

        bool IsCopied(string path) => copied.Any(c => path == c || path.StartsWith(c + Path.DirectorySeparatorChar, StringComparison.Ordinal));

        var pending = new Queue<string>([Path.GetFullPath(Repository.PathOf(project))]);
        var seen = new HashSet<string>();
        while (pending.TryDequeue(out var csproj))
        {
            if (!seen.Add(csproj))
            {
                continue;
            }

            Assert.True(IsCopied(csproj), $"{csproj} is not copied into the build stage");
            var directory = Path.GetDirectoryName(csproj)!;
            foreach (var element in XDocument.Load(csproj).Descendants())
            {
                var include = element.Attribute("Include")?.Value;
                if (include is null || element.Name.LocalName is not ("ProjectReference" or "EmbeddedResource" or "Protobuf" or "None" or "Content"))
                {
                    continue;
                }

                foreach (var file in Expand(directory, include))
                {
                    Assert.True(IsCopied(file), $"{csproj} needs {file}, which is not copied into the build stage");
                    if (element.Name.LocalName == "ProjectReference")
                    {
                        pending.Enqueue(file);
                    }
                }
            }
        }

        foreach (var shared in new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" })
        {
            Assert.True(IsCopied(Path.GetFullPath(Repository.PathOf(shared))), $"{shared} is not copied into the build stage");
        }
    }

    [Fact]
    public void RestoreLayer_HasEveryProjectFileItRestores()
    {
        // The restore runs before `COPY src/`: each project the exe references (transitively) must be copied by then.
        var build = Instructions.Value.TakeWhile(i => !i.StartsWith("FROM ", StringComparison.Ordinal) || i.EndsWith(" AS build", StringComparison.Ordinal)).ToList();
        var restoreAt = build.FindIndex(i => i.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.True(restoreAt > 0, "no `dotnet restore` layer in the build stage");
        var copiedBefore = build.Take(restoreAt)
            .Where(i => i.StartsWith("COPY ", StringComparison.Ordinal))
            .SelectMany(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).SkipLast(1))
            .ToHashSet(StringComparer.Ordinal);

        var pending = new Queue<string>(["src/SharpProxy/SharpProxy.csproj"]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryDequeue(out var project))
        {
            if (!seen.Add(project))
            {
                continue;
            }

            Assert.True(copiedBefore.Contains(project), $"{project} is restored but not copied before `dotnet restore`");
            foreach (var reference in XDocument.Load(Repository.PathOf(project)).Descendants("ProjectReference"))
            {
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Repository.PathOf(project))!, reference.Attribute("Include")!.Value));
                pending.Enqueue(Path.GetRelativePath(Repository.Root, full).Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        Assert.Contains("Directory.Packages.props", copiedBefore);
        Assert.Contains("-p:PublishReadyToRun=true", build[restoreAt], StringComparison.Ordinal);
    }

    [Fact]
    public void Entrypoint_RunsTheExeTheProjectBuilds()
    {
        var assemblyName = XDocument.Load(Repository.PathOf("src/SharpProxy/SharpProxy.csproj")).Descendants("AssemblyName").Single().Value;
        var entrypoint = Assert.Single(Instructions.Value, i => i.StartsWith("ENTRYPOINT ", StringComparison.Ordinal));

        var words = JsonSerializer.Deserialize<string[]>(entrypoint["ENTRYPOINT ".Length..])!;

        var binary = Path.GetFileName(words[^1]);
        Assert.Equal(assemblyName, binary.EndsWith(".dll", StringComparison.Ordinal) ? binary[..^4] : binary);
        if (binary.EndsWith(".dll", StringComparison.Ordinal))
        {
            Assert.Equal(["dotnet", $"/app/{assemblyName}.dll"], words);
        }

        // The image passes its arguments straight through: `docker run sharpproxy -c FILE` and Kubernetes args.
        Assert.Equal("CMD []", Instructions.Value.Last(i => i.StartsWith("CMD", StringComparison.Ordinal)));
    }

    [Fact]
    public void RuntimeStage_RunsAs1337_WithTheSidecarsDotnetSettings()
    {
        var runtime = Instructions.Value.SkipWhile(i => !(i.StartsWith("FROM ", StringComparison.Ordinal) && i.EndsWith(" AS runtime", StringComparison.Ordinal))).ToList();

        Assert.NotEmpty(runtime);
        Assert.Equal("USER 1337:1337", runtime.Last(i => i.StartsWith("USER ", StringComparison.Ordinal)));
        var env = string.Join(' ', runtime.Where(i => i.StartsWith("ENV ", StringComparison.Ordinal)));
        Assert.Contains("DOTNET_gcServer=0", env, StringComparison.Ordinal);
        Assert.Contains("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", env, StringComparison.Ordinal);
        Assert.Contains("DOTNET_TC_CallCountingDelayMs=10", env, StringComparison.Ordinal);
        // The image is also the init container: sharpproxy iptables execs these.
        var install = string.Join(' ', runtime.Where(i => i.StartsWith("RUN ", StringComparison.Ordinal)));
        Assert.Contains("iptables", install, StringComparison.Ordinal);
        Assert.Contains("nftables", install, StringComparison.Ordinal);
        Assert.Contains("iproute2", install, StringComparison.Ordinal);
        Assert.Contains(runtime, i => i.StartsWith("HEALTHCHECK ", StringComparison.Ordinal));
    }

    /// <summary>The runtime image's ENTRYPOINT words.</summary>
    internal static string[] Entrypoint() =>
        JsonSerializer.Deserialize<string[]>(Instructions.Value.Single(i => i.StartsWith("ENTRYPOINT ", StringComparison.Ordinal))["ENTRYPOINT ".Length..])!;

    private static IEnumerable<string> Expand(string directory, string include)
    {
        var full = Path.GetFullPath(Path.Combine(directory, include.Replace('\\', '/')));
        if (!include.Contains('*', StringComparison.Ordinal))
        {
            return [full];
        }

        var root = full[..full.IndexOf('*', StringComparison.Ordinal)];
        root = Path.GetDirectoryName(root + "x")!;
        return Directory.Exists(root) ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories) : [];
    }

    /// <summary>Instructions with line continuations joined and comments dropped, whitespace collapsed.</summary>
    private static List<string> ReadInstructions(string path)
    {
        var instructions = new List<string>();
        var current = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || line.Length == 0)
            {
                continue;
            }

            var continued = line.EndsWith('\\');
            current += " " + (continued ? line[..^1] : line);
            if (!continued)
            {
                instructions.Add(string.Join(' ', current.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
                current = "";
            }
        }

        return instructions;
    }
}
