using System.Text.Json;
using System.Xml.Linq;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// The root Dockerfile cannot be built here (no Docker engine), so what can go stale is checked against the tree: COPY
/// sources exist, everything the publish needs is copied, the build publishes native AOT for linux-x64 (restored for
/// it), the runtime stage is runtime-deps with the published executable as its entrypoint, runs as 1337, and sets no
/// setting that only a JIT reads. CI runs the same restore and publish commands (.ci/run).
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
    }

    [Fact]
    public void BuildStage_PublishesNativeAot_ForLinuxX64_WithClangInstalledFirst()
    {
        var build = BuildStage();
        var publishAt = build.FindIndex(i => i.Contains("dotnet publish", StringComparison.Ordinal));
        var publish = Words(build[publishAt]);

        Assert.Contains("-p:PublishAot=true", publish);
        Assert.Equal("linux-x64", ValueAfter(publish, "-r", "--runtime"));
        Assert.Equal("Release", ValueAfter(publish, "-c", "--configuration"));
        Assert.Contains("--no-restore", publish);
        // A ReadyToRun or framework-dependent publish would need the .NET runtime that runtime-deps does not have.
        Assert.DoesNotContain(publish, w => w.StartsWith("-p:PublishReadyToRun", StringComparison.Ordinal) || w == "--self-contained");
        // The ILCompiler links with clang; .NET documents zlib1g-dev next to it.
        var installs = string.Join(' ', build.Take(publishAt).Where(i => i.StartsWith("RUN ", StringComparison.Ordinal) && i.Contains("apt-get install", StringComparison.Ordinal)));
        Assert.Contains("clang", Words(installs));
        Assert.Contains("zlib1g-dev", Words(installs));
    }

    [Fact]
    public void RestoreLayer_RestoresWhatTheNoRestorePublishNeeds()
    {
        // `--no-restore` publishes from the restore's assets. Without the runtime there it fails (NETSDK1047); without
        // PublishAot there the ILCompiler package is missing and it silently publishes a self-contained JIT build (exit
        // code 0, sharpproxy.dll and libcoreclr.so, no native executable), which the runtime stage cannot run.
        var build = BuildStage();
        var restore = Words(Assert.Single(build, i => i.Contains("dotnet restore", StringComparison.Ordinal)));
        var publish = Words(Assert.Single(build, i => i.Contains("dotnet publish", StringComparison.Ordinal)));

        Assert.Equal(ValueAfter(publish, "-r", "--runtime"), ValueAfter(restore, "-r", "--runtime"));
        foreach (var property in publish.Where(w => w.StartsWith("-p:Publish", StringComparison.Ordinal)))
        {
            Assert.Contains(property, restore);
        }

        Assert.Equal(publish.Single(w => w.EndsWith(".csproj", StringComparison.Ordinal)), restore.Single(w => w.EndsWith(".csproj", StringComparison.Ordinal)));
    }

    [Fact]
    public void Stages_UseTheTargetFrameworksImages_SdkThenRuntimeDeps()
    {
        var targetFramework = XDocument.Load(Repository.PathOf("Directory.Build.props")).Descendants("TargetFramework").Single().Value;
        var tag = targetFramework["net".Length..];
        var froms = Instructions.Value.Where(i => i.StartsWith("FROM ", StringComparison.Ordinal)).ToList();

        Assert.Equal([$"FROM mcr.microsoft.com/dotnet/sdk:{tag} AS build", $"FROM mcr.microsoft.com/dotnet/runtime-deps:{tag} AS runtime"], froms);
        // runtime-deps has no dotnet host: nothing in the runtime stage may need one.
        Assert.DoesNotContain(RuntimeStage(), i => Words(i).Contains("dotnet") || i.Contains("\"dotnet\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Entrypoint_RunsTheNativeExecutable_ThePublishWrote()
    {
        var assemblyName = XDocument.Load(Repository.PathOf("src/SharpProxy/SharpProxy.csproj")).Descendants("AssemblyName").Single().Value;
        var publish = Words(Assert.Single(Instructions.Value, i => i.Contains("dotnet publish", StringComparison.Ordinal)));
        var output = ValueAfter(publish, "-o", "--output") ?? throw new InvalidOperationException("the publish names no -o directory");

        var entrypoint = Entrypoint();

        Assert.Equal([$"/app/{assemblyName}"], entrypoint);
        // The runtime stage copies exactly that file out of the publish directory.
        var copy = Words(Assert.Single(RuntimeStage(), i => i.StartsWith("COPY --from=build ", StringComparison.Ordinal)));
        Assert.Equal(["COPY", "--from=build", $"{output.TrimEnd('/')}/{assemblyName}", entrypoint[0]], copy);
        // The image passes its arguments straight through: `docker run sharpproxy -c FILE` and Kubernetes args.
        Assert.Equal("CMD []", Instructions.Value.Last(i => i.StartsWith("CMD", StringComparison.Ordinal)));
    }

    [Fact]
    public void Manifests_ExecTheImagesEntrypoint_InEveryCommandThatRunsSharpProxy()
    {
        var entrypoint = Entrypoint();
        var commands = new List<(string Where, List<string> Command)>();
        foreach (var pod in DeployTree.Pods)
        {
            foreach (var container in pod.InitContainers.Concat(pod.Containers).Where(c => Images.IsSharpProxy(c.Str("image"))))
            {
                CollectCommands(container, $"{pod}/{container.Str("name")}", commands);
            }
        }

        // Other tools in the image (the preStop `sleep`) are left alone; the proxy is named, or run through dotnet.
        commands.RemoveAll(c => !(c.Command.Count > 0 && (c.Command[0] == "dotnet" || c.Command.Any(w => w.Contains("sharpproxy", StringComparison.OrdinalIgnoreCase)))));

        // The postStart `sharpproxy wait` hooks at least (deploy/plain and the Istio template).
        Assert.True(commands.Count >= 2, $"expected the sidecars' postStart hooks, found {commands.Count} command(s)");
        foreach (var (where, command) in commands)
        {
            Assert.True(command.Take(entrypoint.Length).SequenceEqual(entrypoint), $"{where}: [{string.Join(' ', command)}] does not start with the image's ENTRYPOINT [{string.Join(' ', entrypoint)}]");
        }

        // The docs say how the image runs, and no file here still runs the framework-dependent build.
        Assert.Contains($"entrypoint `{string.Join(' ', entrypoint)}`", File.ReadAllText(Path.Combine(Repository.DeployDirectory, "README.md")), StringComparison.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Repository.DeployDirectory, "*", SearchOption.AllDirectories).Append(Repository.PathOf("README.md")))
        {
            Assert.False(File.ReadAllText(file).Contains("sharpproxy.dll", StringComparison.Ordinal), $"{file} still mentions sharpproxy.dll");
        }
    }

    [Fact]
    public void RuntimeStage_RunsAs1337_WithTheSettingsNativeAotReads()
    {
        var runtime = RuntimeStage();

        Assert.NotEmpty(runtime);
        Assert.Equal("USER 1337:1337", runtime.Last(i => i.StartsWith("USER ", StringComparison.Ordinal)));
        var env = Words(string.Join(' ', runtime.Where(i => i.StartsWith("ENV ", StringComparison.Ordinal))));
        Assert.Contains("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", env);
        Assert.Contains("DOTNET_hostBuilder__reloadConfigOnChange=false", env);
        // Settings a native AOT executable never reads: the JIT's (tiering, PGO, ReadyToRun use) and the GC flavour,
        // which is linked in at publish time (ServerGarbageCollection in the csproj).
        string[] jitOnly = ["DOTNET_TieredPGO", "DOTNET_TieredCompilation", "DOTNET_TC_", "DOTNET_ReadyToRun", "DOTNET_TC_QuickJit", "DOTNET_gcServer"];
        Assert.DoesNotContain(env, setting => jitOnly.Any(prefix => setting.StartsWith(prefix, StringComparison.Ordinal)));
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

    /// <summary>Every <c>command</c> list (exec hooks and probes) in a SharpProxy container; its own command is tested to be absent.</summary>
    private static void CollectCommands(YamlNode node, string where, List<(string Where, List<string> Command)> commands)
    {
        if (node is not YamlMappingNode mapping)
        {
            return;
        }

        foreach (var (key, value) in mapping.Children)
        {
            var name = key.ToString();
            if (name == "command" && value is YamlSequenceNode)
            {
                commands.Add(($"{where}: {name}", mapping.Strings("command")));
            }
            else
            {
                CollectCommands(value, $"{where}.{name}", commands);
            }
        }
    }

    private static List<string> BuildStage() =>
        Instructions.Value.TakeWhile(i => !(i.StartsWith("FROM ", StringComparison.Ordinal) && i.EndsWith(" AS runtime", StringComparison.Ordinal))).ToList();

    private static List<string> RuntimeStage() =>
        Instructions.Value.SkipWhile(i => !(i.StartsWith("FROM ", StringComparison.Ordinal) && i.EndsWith(" AS runtime", StringComparison.Ordinal))).ToList();

    private static List<string> Words(string instruction) => [.. instruction.Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>The word after <paramref name="shortFlag"/> or <paramref name="longFlag"/> (also <c>--flag=value</c>).</summary>
    private static string? ValueAfter(List<string> words, string shortFlag, string longFlag)
    {
        for (var i = 0; i < words.Count; i++)
        {
            if ((words[i] == shortFlag || words[i] == longFlag) && i + 1 < words.Count)
            {
                return words[i + 1];
            }

            if (words[i].StartsWith(longFlag + "=", StringComparison.Ordinal))
            {
                return words[i][(longFlag.Length + 1)..];
            }
        }

        return null;
    }

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
