using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.Reflection;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>
/// Checks JSON config against the message descriptors before parsing. The descriptors hold exactly the fields SharpProxy
/// honours, so a field missing from them is one we would otherwise ignore in silence: it is reported with its full path
/// (or, when unknown fields are allowed, removed and recorded). Unknown Any type URLs and enum names are reported too.
/// All problems are collected; parsing stops at none of them.
/// </summary>
internal sealed class SchemaWalker(bool removeUnknownFields)
{
    private static readonly ConcurrentDictionary<MessageDescriptor, Dictionary<string, FieldDescriptor>> FieldsByName = new();

    public List<string> Errors { get; } = [];

    public List<string> RemovedFields { get; } = [];

    public void WalkMessage(JsonNode? node, MessageDescriptor descriptor, string path)
    {
        if (node is null)
        {
            return;
        }

        if (IsWellKnown(descriptor))
        {
            if (descriptor.FullName == "google.protobuf.Any")
            {
                WalkAny(node, path);
            }

            return;
        }

        if (node is not JsonObject obj)
        {
            Errors.Add($"{Display(path)}: expected an object for {descriptor.FullName}, got {Describe(node)}");
            return;
        }

        var fields = FieldsByName.GetOrAdd(descriptor, Index);
        List<string>? unknown = null;
        foreach (var (name, value) in obj)
        {
            var childPath = path.Length == 0 ? name : path + "." + name;
            if (!fields.TryGetValue(name, out var field))
            {
                if (removeUnknownFields)
                {
                    (unknown ??= []).Add(name);
                    RemovedFields.Add(childPath);
                }
                else
                {
                    Errors.Add($"{childPath}: field '{name}' is not supported by SharpProxy (in {descriptor.FullName})");
                }

                continue;
            }

            WalkField(value, field, childPath);
        }

        if (unknown is not null)
        {
            foreach (var name in unknown)
            {
                obj.Remove(name);
            }
        }
    }

    private void WalkField(JsonNode? value, FieldDescriptor field, string path)
    {
        if (value is null)
        {
            return;
        }

        if (field.IsMap)
        {
            if (value is not JsonObject map)
            {
                Errors.Add($"{path}: expected an object (map), got {Describe(value)}");
                return;
            }

            var valueField = field.MessageType.FindFieldByNumber(2);
            foreach (var (key, item) in map)
            {
                WalkSingle(item, valueField, path + "[\"" + key + "\"]");
            }

            return;
        }

        if (field.IsRepeated)
        {
            if (value is not JsonArray array)
            {
                Errors.Add($"{path}: expected a list, got {Describe(value)}");
                return;
            }

            for (var i = 0; i < array.Count; i++)
            {
                WalkSingle(array[i], field, path + "[" + i + "]");
            }

            return;
        }

        WalkSingle(value, field, path);
    }

    private void WalkSingle(JsonNode? value, FieldDescriptor field, string path)
    {
        if (value is null)
        {
            return;
        }

        switch (field.FieldType)
        {
            case FieldType.Message:
            case FieldType.Group:
                WalkMessage(value, field.MessageType, path);
                break;
            case FieldType.Enum:
                CheckEnum(value, field.EnumType, path);
                break;
            case FieldType.Bool:
                if (value.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    Errors.Add($"{path}: expected true or false, got {Describe(value)}");
                }

                break;
            case FieldType.String:
                if (value.GetValueKind() != JsonValueKind.String)
                {
                    Errors.Add($"{path}: expected a string, got {Describe(value)}");
                }

                break;
            default:
                if (value.GetValueKind() is not (JsonValueKind.Number or JsonValueKind.String))
                {
                    Errors.Add($"{path}: expected a number, got {Describe(value)}");
                }

                break;
        }
    }

    private void CheckEnum(JsonNode value, EnumDescriptor type, string path)
    {
        if (value.GetValueKind() == JsonValueKind.Number)
        {
            return;
        }

        var name = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;
        if (name is not null && type.FindValueByName(name) is not null)
        {
            return;
        }

        var allowed = new List<string>();
        foreach (var candidate in type.Values)
        {
            allowed.Add(candidate.Name);
        }

        Errors.Add($"{path}: '{name ?? value.ToJsonString()}' is not supported for {type.Name} (supported: {string.Join(", ", allowed)})");
    }

    private void WalkAny(JsonNode node, string path)
    {
        if (node is not JsonObject obj)
        {
            Errors.Add($"{path}: expected an object with \"@type\", got {Describe(node)}");
            return;
        }

        if (!obj.TryGetPropertyValue("@type", out var typeNode) || typeNode?.GetValueKind() != JsonValueKind.String)
        {
            Errors.Add($"{path}: \"@type\" is required");
            return;
        }

        var typeUrl = typeNode.GetValue<string>();
        var descriptor = ApiTypes.Find(typeUrl);
        if (descriptor is null)
        {
            Errors.Add($"{path}: unsupported type URL '{typeUrl}'");
            return;
        }

        if (IsWellKnown(descriptor))
        {
            return;
        }

        // The Any's own fields sit beside "@type"; walk them as the named message without "@type".
        var copy = new Dictionary<string, FieldDescriptor>(FieldsByName.GetOrAdd(descriptor, Index), StringComparer.Ordinal);
        List<string>? unknown = null;
        foreach (var (name, value) in obj)
        {
            if (name == "@type")
            {
                continue;
            }

            var childPath = path + "." + name;
            if (!copy.TryGetValue(name, out var field))
            {
                if (removeUnknownFields)
                {
                    (unknown ??= []).Add(name);
                    RemovedFields.Add(childPath);
                }
                else
                {
                    Errors.Add($"{childPath}: field '{name}' is not supported by SharpProxy (in {descriptor.FullName})");
                }

                continue;
            }

            WalkField(value, field, childPath);
        }

        if (unknown is not null)
        {
            foreach (var name in unknown)
            {
                obj.Remove(name);
            }
        }
    }

    private static bool IsWellKnown(MessageDescriptor descriptor) => descriptor.File.Package == "google.protobuf";

    private static Dictionary<string, FieldDescriptor> Index(MessageDescriptor descriptor)
    {
        var byName = new Dictionary<string, FieldDescriptor>(StringComparer.Ordinal);
        foreach (var field in descriptor.Fields.InDeclarationOrder())
        {
            byName[field.Name] = field;
            byName[field.JsonName] = field;
        }

        return byName;
    }

    private static string Display(string path) => path.Length == 0 ? "(root)" : path;

    private static string Describe(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "the string " + node.ToJsonString(),
        _ => node.ToJsonString(),
    };
}
