"""Demo data made on the spot, each with its own command line:

    python -m fer_hf.demo.synthetic --output data/fer-synthetic.csv.gz   # cartoon faces in FER2013's CSV layout
    python -m fer_hf.demo.sample_video --output faces.mp4 --faces 2      # a video of real face photos (scikit-image)
"""
