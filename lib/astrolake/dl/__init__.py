"""Deep learning: Keras models trained with Horovod or tf.distribute, and Galaxy Zoo images."""
