"""Pictures of recurrent layers (``rg.diagram``), as SVG and HTML.

- ``diagram``: the entry point, one view at a time.
- ``canvas``: the Diagram result, an SVG canvas, the styles.
- ``unrolled``: the chain over the timesteps.
- ``panels``: layers with their counts, an input array, weight blocks, one step inside a cell.
- ``conv_cell``: the ConvLSTM's cell.
- ``steps``: a step-through of the real computation, inside the cell's drawing.
- ``loops``: the rolled loop beside the chain, and the graph of backpropagation through time.
"""
