using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Translation;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>
/// Reads an Envoy v3 bootstrap (YAML or JSON, from a file and/or --config-yaml), checks it against the honoured
/// subset, parses it with protobuf's JSON parser and translates it. Every problem is reported, each with the file
/// and the field path; nothing is half-loaded.
/// </summary>
internal static class BootstrapLoader
{
    /// <exception cref="ConfigException">Every error found, each with its path.</exception>
    public static LoadedBootstrap Load(string? path, string? yaml, bool allowUnknownFields)
    {
        if (path is null && yaml is null)
        {
            throw new ConfigException(["no configuration: give -c/--config-path FILE or --config-yaml STRING"]);
        }

        JsonNode? root = null;
        var source = path ?? "--config-yaml";
        if (path is not null)
        {
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ConfigException([$"{path}: cannot read: {ex.Message}"]);
            }

            root = ParseText(text, path, path.EndsWith(".json", StringComparison.OrdinalIgnoreCase));
        }

        if (yaml is not null)
        {
            var overlay = ParseText(yaml, "--config-yaml", isJson: false);
            root = root is null ? overlay : Merge(root, overlay);
        }

        Core.Diagnostics.StartupTrace.Mark("yaml parsed");
        return LoadFromJson(root ?? new JsonObject(), source, allowUnknownFields);
    }

    public static LoadedBootstrap LoadFromJson(JsonNode root, string source, bool allowUnknownFields)
    {
        var walker = new SchemaWalker(removeUnknownFields: allowUnknownFields);
        walker.WalkMessage(root, BootstrapApi.Bootstrap.Descriptor, "");
        Core.Diagnostics.StartupTrace.Mark("schema walked");
        if (walker.Errors.Count > 0)
        {
            throw new ConfigException(Prefix(source, walker.Errors));
        }

        BootstrapApi.Bootstrap proto;
        try
        {
            var parser = new JsonParser(JsonParser.Settings.Default.WithTypeRegistry(ApiTypes.Registry).WithIgnoreUnknownFields(allowUnknownFields));
            proto = parser.Parse<BootstrapApi.Bootstrap>(root.ToJsonString());
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException or InvalidOperationException)
        {
            throw new ConfigException([$"{source}: {ex.Message}"]);
        }

        Core.Diagnostics.StartupTrace.Mark("protobuf parsed");
        var errors = new TranslationErrors();
        var config = BootstrapTranslator.Translate(proto, errors, out var xds);
        if (errors.Any)
        {
            throw new ConfigException(Prefix(source, errors.All));
        }

        return new LoadedBootstrap(proto, config, walker.RemovedFields, source) { Xds = xds };
    }

    private static JsonNode ParseText(string text, string source, bool isJson)
    {
        try
        {
            if (isJson)
            {
                return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip })
                    ?? new JsonObject();
            }

            // JSON is YAML too, so YAML parsing covers files without a .json extension either way.
            return YamlJson.Parse(text) ?? new JsonObject();
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw new ConfigException([$"{source}: {ex.Message}"]);
        }
    }

    /// <summary>Protobuf merge semantics, as Envoy applies --config-yaml over --config-path: objects merge, lists append, scalars replace.</summary>
    private static JsonNode Merge(JsonNode target, JsonNode overlay)
    {
        if (target is JsonObject targetObject && overlay is JsonObject overlayObject)
        {
            foreach (var (key, value) in overlayObject.ToList())
            {
                overlayObject.Remove(key);
                targetObject[key] = targetObject[key] is { } existing && value is not null ? Merge(existing, value) : value;
            }

            return targetObject;
        }

        if (target is JsonArray targetArray && overlay is JsonArray overlayArray)
        {
            foreach (var item in overlayArray.ToList())
            {
                overlayArray.Remove(item);
                targetArray.Add(item);
            }

            return targetArray;
        }

        return overlay;
    }

    private static List<string> Prefix(string source, IEnumerable<string> errors)
    {
        var result = new List<string>();
        foreach (var error in errors)
        {
            result.Add(source + ": " + error);
        }

        return result;
    }
}
