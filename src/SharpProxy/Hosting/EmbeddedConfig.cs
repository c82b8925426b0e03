using System.Reflection;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Hosting;

/// <summary>The configs compiled into the executable, so `sharpproxy` and `sharpproxy demo` run with no files around.</summary>
internal static class EmbeddedConfig
{
    public const string Default = "minimal.yaml";
    public const string CanaryDemo = "canary-demo.yaml";

    public static string Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("SharpProxy.config." + name)
            ?? throw new InvalidOperationException($"embedded config '{name}' is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static LoadedBootstrap Load(string name, bool allowUnknownFields)
    {
        var root = YamlJson.Parse(Read(name)) ?? new System.Text.Json.Nodes.JsonObject();
        return BootstrapLoader.LoadFromJson(root, "embedded:" + name, allowUnknownFields);
    }
}
