"""A matplotlib backend (``MPLBACKEND=module://_dockermagic_runtime.mpl_backend``).

Draws with Agg; ``plt.show()`` saves every open figure as PNG instead of opening a window.
"""

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from . import save_open_figures

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs):
    save_open_figures()
