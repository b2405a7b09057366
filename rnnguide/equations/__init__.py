"""The equations in numpy.

- ``activations``: Keras' built-in activations and their derivatives.
- ``convolution``: a ConvLSTM's convolutions as matrix products.
- ``blocks``: weights cut by gate, in Keras' block order.
- ``simple_rnn``: SimpleRNN's step, forward and backward, and its equations.
- ``lstm``: the LSTM's step (a ConvLSTM's too), forward and backward, and its equations.
- ``gru``: the GRU's step (``reset_after`` either way), forward and backward, and its equations.
- ``engine``: a cell's weights made ready (the runners) and the time loop (the forward pass).
- ``tape``: what the forward pass records for the backward pass.
- ``merging``: Bidirectional's merge of its halves, forward and backward.
- ``backward``: backpropagation through time over the tape.
- ``dropout``: training mode: recorded dropout masks on a spec's cells (pure numpy).
"""
