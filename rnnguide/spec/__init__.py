"""What a recurrent layer is and what it is called on, with no Keras in sight.

- ``kinds``: one table of facts per kind (gates, states, block orders).
- ``records``: the specs a layer is read into (cells, layers, Bidirectional), and their traversals.
- ``build``: a spec from a kind name and sizes.
- ``returns``: what a layer returns, flat and in order, and the names of its tensors.
- ``geometry``: a ConvLSTM's input and state, in words and as shapes.
- ``call``: the prepared call: input, mask and states checked once, and the step rules.
"""
