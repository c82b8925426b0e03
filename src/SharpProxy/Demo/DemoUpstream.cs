using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SharpProxy.Demo;

/// <summary>A tiny labelled echo server for the demo: answers every request with its label, path and headers.</summary>
internal sealed class DemoUpstream(string label, int port) : IAsyncDisposable
{
    private WebApplication? _app;

    public string Label { get; } = label;

    public int Port { get; } = port;

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, Port));
        _app = builder.Build();
        _app.Run(context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.Headers["x-upstream"] = Label;
            var canary = context.Request.Headers["canary"].ToString();
            return context.Response.WriteAsync(
                $"upstream {Label}: {context.Request.Method} {context.Request.Path}{context.Request.QueryString}"
                + (canary.Length > 0 ? $" (canary: {canary})" : "") + "\n");
        });
        await _app.StartAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
