using RaftKv.Client;

namespace RaftKv.Gateway.Tests.Infrastructure;

/// <summary>A real gateway on Kestrel over a fake leader, and a client for it, fresh for every test.</summary>
public abstract class SingleGatewayTest : IAsyncLifetime
{
    protected FakeRaftKvNode _node = null!;
    protected GatewayTestServer _server = null!;
    protected RaftKvClient _client = null!;

    public virtual async Task InitializeAsync()
    {
        _node = new FakeRaftKvNode(1);
        _server = await GatewayTestServer.StartAsync(_node);
        _client = _server.CreateClient();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        _node.Dispose();
    }
}
